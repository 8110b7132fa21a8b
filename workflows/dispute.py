"""A card dispute (chargeback) opened at the payment provider, recorded on its order.

A workflow per dispute (id ``dispute-<provider id>``) makes the webhook's effect durable and
idempotent whatever state the order's own workflow is in, including finished.
"""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.checkout import OrderActivities
    from models.commerce import DisputeNotice
    from workflows.common import STEP_RETRY


@workflow.defn
class DisputeWorkflow:
    @workflow.run
    async def run(self, notice: DisputeNotice) -> str:
        status = await workflow.execute_activity_method(
            OrderActivities.record_dispute, notice, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=STEP_RETRY,
        )
        workflow.logger.warning("dispute %s opened on order %s (%s)", notice.dispute_id, notice.order_id, notice.reason)
        return status
