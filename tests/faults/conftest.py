"""Fault matrix fixtures: a time-skipping server per case (see tests/workflows/conftest.py for why)."""

import pytest

from tests.workflows.conftest import time_env  # noqa: F401  (re-exported fixture)

# On a loaded 2-core machine the time-skipping test server now and then drops its connection in the
# middle of a skip ("h2 protocol error", "Timeout expired"). That is the test server's transport, not
# our code, so such a case runs again; an assertion or any other error is never rerun.
TEST_SERVER_TRANSPORT_ERRORS = [r"RPCError.*(h2 protocol error|Timeout expired|transport error)"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/faults/" in item.nodeid:
            item.add_marker(pytest.mark.flaky(reruns=2, only_rerun=TEST_SERVER_TRANSPORT_ERRORS))
