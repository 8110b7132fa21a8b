"""A card dispute (chargeback) at the payment provider, from opened to won or lost, on its order.

A workflow per dispute (id ``dispute-<provider id>``) makes the webhooks' effects durable and
idempotent whatever state the order's own workflow is in, including finished. It records the
dispute, then waits for the provider's later events (``dispute_updated`` signals: funds
withdrawn or reinstated, closed won / lost) and ends when the dispute closes.
"""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.checkout import OrderActivities
    from activities.interfaces.disputes import DisputeActivities
    from models.commerce import DisputeNotice
    from models.disputes import DisputeUpdate
    from workflows.common import STEP_RETRY

# Histories from before disputes could close ended right after recording the opening.
WAITS_FOR_CLOSE = "dispute-waits-for-close"


@workflow.defn
class DisputeWorkflow:
    def __init__(self) -> None:
        self._updates: list[DisputeUpdate] = []
        self._seen: set[str] = set()

    @workflow.signal
    def dispute_updated(self, update: DisputeUpdate) -> None:
        if update.kind not in self._seen:  # the provider may say the same thing twice
            self._seen.add(update.kind)
            self._updates.append(update)

    @workflow.run
    async def run(self, notice: DisputeNotice) -> str:
        status = await workflow.execute_activity_method(
            OrderActivities.record_dispute, notice, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=STEP_RETRY,
        )
        workflow.logger.warning("dispute %s opened on order %s (%s)", notice.dispute_id, notice.order_id, notice.reason)
        if not workflow.patched(WAITS_FOR_CLOSE):
            return status
        while True:
            await workflow.wait_condition(lambda: bool(self._updates))
            update = self._updates.pop(0)
            status = await workflow.execute_activity_method(
                DisputeActivities.record_dispute_update, args=[notice, update],
                start_to_close_timeout=timedelta(seconds=30), retry_policy=STEP_RETRY,
            )
            if update.closes:
                workflow.upsert_memo({"outcome": update.kind})
                workflow.logger.warning("dispute %s on order %s closed: %s", notice.dispute_id, notice.order_id,
                                        update.kind)
                return status
