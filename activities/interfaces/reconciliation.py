"""What the workflows may know of ``activities.reconciliation``: names and types, no implementation."""

from datetime import datetime

from temporalio import activity

from models.reconciliation import LedgerOperation, ReconciledItem, ReconciliationRun


class ReconciliationActivities:
    @activity.defn
    async def find_stale_operations(self, now: datetime, pending_after_seconds: int,
                                    limit: int) -> list[LedgerOperation]:
        ...

    @activity.defn
    async def find_orphan_holds(self, now: datetime, pending_after_seconds: int,
                                limit: int) -> list[LedgerOperation]:
        ...

    @activity.defn
    async def settle_operation(self, operation: LedgerOperation) -> ReconciledItem:
        ...

    @activity.defn
    async def void_orphan_hold(self, hold: LedgerOperation) -> ReconciledItem:
        ...

    @activity.defn
    async def record_reconciliation_run(self, run: ReconciliationRun) -> None:
        ...
