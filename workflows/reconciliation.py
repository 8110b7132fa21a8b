"""Reconciliation (id ``reconciliation-<time>``, started by the ``reconciliation`` Schedule).

Settles ledger operations whose provider answer was lost (pending past a threshold), voids
holds nobody will capture (a failed checkout's authorization that was never released) and
raises an ops alert for what it cannot settle. The run's counts are its memo, an alert its
``ReconciliationAlert`` search attribute, and the whole run a row behind ``GET /reports/reconciliation``.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.reconciliation import ReconciliationActivities
    from models.reconciliation import (
        LedgerOperation, ReconciledItem, ReconciliationInput, ReconciliationRun, alert, summarise,
    )
    from workflows import search_attributes as sa
    from workflows.common import failure_code

# Database trouble is retried a little; past that the item is reported unsettled, and the next run tries again.
ITEM_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10),
                         maximum_attempts=5)
TIMEOUT = timedelta(seconds=60)


@workflow.defn
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, request: ReconciliationInput) -> ReconciliationRun:
        started = workflow.now()
        window = (started, request.pending_after_seconds, request.batch_size)
        stale = await self._find(ReconciliationActivities.find_stale_operations, window)
        items = [await self._each(ReconciliationActivities.settle_operation, op) for op in stale]
        orphans = await self._find(ReconciliationActivities.find_orphan_holds, window)
        items += [await self._each(ReconciliationActivities.void_orphan_hold, hold) for hold in orphans]
        run = summarise(workflow.info().workflow_id, started, workflow.now(), items)
        await workflow.execute_activity_method(ReconciliationActivities.record_reconciliation_run, run,
                                               start_to_close_timeout=TIMEOUT, retry_policy=ITEM_RETRY)
        self._publish(run)
        return run

    @staticmethod
    async def _find(activity, window) -> list[LedgerOperation]:
        return await workflow.execute_activity_method(activity, args=list(window), start_to_close_timeout=TIMEOUT,
                                                      retry_policy=ITEM_RETRY)

    @staticmethod
    async def _each(activity, operation: LedgerOperation) -> ReconciledItem:
        try:
            return await workflow.execute_activity_method(activity, operation, start_to_close_timeout=TIMEOUT,
                                                          retry_policy=ITEM_RETRY)
        except ActivityError as failure:
            return ReconciledItem(idempotency_key=operation.idempotency_key, payment_ref=operation.payment_ref,
                                  kind=operation.kind, action="unsettled", status="pending",
                                  reason=failure_code(failure)[0])

    @staticmethod
    def _publish(run: ReconciliationRun) -> None:
        """Counts on the memo; anything unsettled is an alert ops can filter on."""
        workflow.upsert_memo(run.counts())
        if (raised := alert(run)) is not None:
            workflow.upsert_search_attributes([sa.RECONCILIATION_ALERT.value_set(raised)])
            unsettled = [f"{i.idempotency_key} ({i.reason})" for i in run.items if i.action == "unsettled"]
            workflow.logger.error("reconciliation could not settle %d item(s): %s", run.unsettled,
                                  ", ".join(unsettled))
