"""The shared waiting helper: returns the first truthy value, fails by name after its deadline."""

import pytest

from tests.helpers import eventually


async def test_returns_the_first_truthy_value_of_a_sync_or_async_probe():
    answers = iter([None, 0, "ready"])
    assert await eventually(lambda: next(answers), 5, interval=0) == "ready"

    async def probe():
        return {"status": "done"}

    assert await eventually(probe, 5) == {"status": "done"}


async def test_fails_naming_what_it_waited_for():
    with pytest.raises(AssertionError, match="timed out after 0.05 s waiting for the order to ship"):
        await eventually(lambda: False, 0.05, interval=0.01, what="the order to ship")
