"""services.workflow_calls.execute: how long a caller waits on a keyed update (the Temporal handle is the edge)."""

import asyncio

import pytest

from services import workflow_calls
from services.errors import Refused


class UpdateStillRunning:
    """A workflow handle whose update never finishes (a step whose answer is lost keeps retrying)."""

    def __init__(self):
        self.ids: list[str | None] = []

    async def execute_update(self, update, *args, id=None):
        self.ids.append(id)
        await asyncio.Event().wait()


class UpdateAnswers:
    async def execute_update(self, update, *args, id=None):
        return {"applied": id}


def _closed() -> Refused:
    return Refused(409, "order_closed", "closed")


async def test_a_keyed_update_still_running_answers_503_to_retry_with_the_same_key():
    handle = UpdateStillRunning()
    with pytest.raises(Refused) as refused:
        await workflow_calls.execute(handle, "edit", closed=_closed, update_id="edit_1", answer_within=0.05)
    assert (refused.value.status, refused.value.code) == (503, "update_in_progress")
    assert refused.value.headers["Retry-After"]
    assert handle.ids == ["edit_1"]


async def test_an_update_that_answers_in_time_is_returned():
    answered = await workflow_calls.execute(UpdateAnswers(), "edit", closed=_closed, update_id="edit_2",
                                            answer_within=5)
    assert answered == {"applied": "edit_2"}
