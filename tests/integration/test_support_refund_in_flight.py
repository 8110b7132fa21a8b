"""Two updates with the same refund id while the first is still running: the provider is asked once.

Runs on the dev server (the time-skipping server has no updates) with a stand-in ``issue_refund``
that holds its answer until the test has both updates accepted by the workflow.
"""

import asyncio
import uuid

import pytest
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from models.refunds import RefundCommand, RefundRequest, RefundResult
from tests.history_helpers import replays_and_is_kept
from workflows.order_support import OrderSupportWorkflow, SupportInput


class HeldRefunds:
    """A stand-in refund activity: counts calls and answers only once ``release`` is set."""

    def __init__(self, refuse_with: str | None = None):
        self.calls = 0
        self.release = asyncio.Event()
        self.refuse_with = refuse_with

    def activity(self):
        @activity.defn(name="issue_refund")
        async def issue_refund(command: RefundCommand) -> RefundResult:
            self.calls += 1
            await self.release.wait()
            if self.refuse_with:
                raise ApplicationError("more than was captured", type=self.refuse_with, non_retryable=True)
            return RefundResult(refund_id=command.refund_id, order_id=command.order_id,
                                amount=command.request.amount, currency="USD", tax_refunded=0,
                                order_status="partially_refunded")

        return issue_refund


@pytest.fixture
async def support(temporal_env):
    """Start a support workflow with a worker running ``refunds``; yields (handle, refunds)."""
    running = []

    async def start(refunds: HeldRefunds):
        queue = f"support-{uuid.uuid4().hex[:8]}"
        worker = Worker(temporal_env.client, task_queue=queue, workflows=[OrderSupportWorkflow],
                        activities=[refunds.activity()])
        await worker.__aenter__()
        running.append(worker)
        order_id = f"ord_{uuid.uuid4().hex[:8]}"
        return await temporal_env.client.start_workflow(OrderSupportWorkflow.run, SupportInput(order_id=order_id),
                                                        id=f"support-{order_id}", task_queue=queue)

    yield start
    for worker in running:
        await worker.__aexit__(None, None, None)


def command_for(handle, amount: int, refund_id: str = "rf_1") -> RefundCommand:
    return RefundCommand(refund_id=refund_id, order_id=handle.id.removeprefix("support-"),
                         request=RefundRequest(amount=amount, reason="late"))


async def accepted(handle, command: RefundCommand):
    return await handle.start_update(OrderSupportWorkflow.refund, command,
                                     wait_for_stage=WorkflowUpdateStage.ACCEPTED)


async def test_a_repeat_of_a_running_refund_waits_for_it_and_the_provider_is_asked_once(support):
    refunds = HeldRefunds()
    handle = await support(refunds)
    first = await accepted(handle, command_for(handle, 500))
    second = await accepted(handle, command_for(handle, 500))
    refunds.release.set()

    results = await asyncio.wait_for(asyncio.gather(first.result(), second.result()), 60)  # hang guard

    assert results[0] == results[1] and results[0].amount == 500
    assert refunds.calls == 1
    assert [r.refund_id for r in await handle.query(OrderSupportWorkflow.issued)] == ["rf_1"]
    await handle.terminate()
    await replays_and_is_kept(await handle.fetch_history(), "order_support_refund_in_flight")


async def test_a_different_refund_under_a_running_refunds_id_is_refused(support):
    refunds = HeldRefunds()
    handle = await support(refunds)
    first = await accepted(handle, command_for(handle, 500))
    other = await accepted(handle, command_for(handle, 700))

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await asyncio.wait_for(other.result(), 60)
    refunds.release.set()

    assert refused.value.cause.type == "idempotency_key_reused"
    assert (await asyncio.wait_for(first.result(), 60)).amount == 500
    assert refunds.calls == 1
    await handle.terminate()


async def test_the_repeat_gets_the_refusal_of_the_refund_it_waited_for(support):
    refunds = HeldRefunds(refuse_with="refund_exceeds_captured")
    handle = await support(refunds)
    first = await accepted(handle, command_for(handle, 500))
    second = await accepted(handle, command_for(handle, 500))
    refunds.release.set()

    for update in (first, second):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await asyncio.wait_for(update.result(), 60)
        assert refused.value.cause.type == "refund_exceeds_captured"
    assert refunds.calls == 1
    await handle.terminate()
