"""services.checkout's status read: the step of a running checkout is best effort and never holds a poll (the
Temporal client is the edge)."""

import asyncio
from types import SimpleNamespace

from temporalio.client import WorkflowExecutionStatus

from services.checkout import _progress


class Checkout:
    """A running checkout's handle; its query waits for ``task_done``, as one waits for a workflow task running
    local steps (a slow carrier quote)."""

    def __init__(self, task_done: asyncio.Event):
        self.task_done = task_done

    async def describe(self):
        return SimpleNamespace(status=WorkflowExecutionStatus.RUNNING)

    async def query(self, query):
        await self.task_done.wait()
        return {"step": "quoting_shipping", "next_action": None}


class Client:
    def __init__(self, handle):
        self.handle = handle

    def get_workflow_handle(self, workflow_id):
        return self.handle


async def test_a_step_the_workflow_cannot_tell_in_time_is_left_out():
    assert await _progress(Client(Checkout(asyncio.Event())), "checkout-chk_1", within=0.05) == (None, None)


async def test_a_step_told_in_time_is_answered():
    ready = asyncio.Event()
    ready.set()
    assert await _progress(Client(Checkout(ready)), "checkout-chk_1", within=5) == ("quoting_shipping", None)
