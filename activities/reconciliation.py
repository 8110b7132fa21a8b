"""Activities of reconciliation: ask the provider about lost answers, settle the ledger, void orphan holds.

Every change goes through the same ledger functions as the live workflows (``ledger.complete``
only settles what is still pending; voids go through ``PaymentService``' ledger path), so a
late retry of the original workflow replays the settled result instead of calling the provider.
"""

from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.payments_service import PaymentService
from adapters.ports import PaymentGateway, ProviderUnavailable
from db import payments as ledger
from db import reconciliation as store
from models.commerce import PaymentAuthorization
from models.errors import DomainError
from models.reconciliation import LedgerOperation, ReconciledItem, ReconciliationRun, verdict

log = structlog.get_logger("orderflow.reconciliation")


class ReconciliationActivities:
    def __init__(self, engine: AsyncEngine, gateway: PaymentGateway, payments: PaymentService):
        self.engine = engine
        self.gateway = gateway
        self.payments = payments

    @activity.defn
    async def find_stale_operations(self, now: datetime, pending_after_seconds: int,
                                    limit: int) -> list[LedgerOperation]:
        async with self.engine.connect() as conn:
            return await store.stale_pending(conn, now - timedelta(seconds=pending_after_seconds), limit)

    @activity.defn
    async def find_orphan_holds(self, now: datetime, pending_after_seconds: int,
                                limit: int) -> list[LedgerOperation]:
        async with self.engine.connect() as conn:
            return await store.orphan_holds(conn, now - timedelta(seconds=pending_after_seconds), limit)

    @activity.defn
    async def settle_operation(self, operation: LedgerOperation) -> ReconciledItem:
        """Ask the provider what became of the operation and record that truth in the ledger."""
        async with self.engine.connect() as conn:
            current = await ledger.operation(conn, operation.idempotency_key)
        if current.status != "pending":  # its workflow settled it since we listed it
            return _item(operation, "settled", current.status, "settled_by_its_workflow")
        try:
            found = await self.gateway.lookup(kind=operation.kind, idempotency_key=operation.idempotency_key,
                                              reference=operation.payment_ref, provider_ref=operation.provider_ref)
        except ProviderUnavailable as down:
            log.error("reconciliation: provider cannot tell", key=operation.idempotency_key, error=str(down))
            return _item(operation, "unsettled", "pending", "provider_unavailable")
        provider_status = found.status if found is not None else None
        outcome = verdict(operation.kind, provider_status)
        if outcome == "in_flight":
            return _item(operation, "unsettled", "pending", f"provider_status:{provider_status}")
        async with self.engine.begin() as conn:
            if outcome == "succeeded":
                settled = await ledger.complete(conn, operation.idempotency_key, status="succeeded",
                                                provider_ref=found.provider_ref)
            else:
                settled = await ledger.complete(
                    conn, operation.idempotency_key, status="failed", provider_ref=operation.provider_ref,
                    error_code="not_at_provider" if found is None else f"provider_status:{provider_status}",
                    error_message="settled by reconciliation: the provider did not perform this operation")
        log.warning("reconciliation settled an operation", key=operation.idempotency_key, status=settled.status,
                    provider_status=provider_status)
        return _item(operation, "settled", settled.status, provider_status or "no_record")

    @activity.defn
    async def void_orphan_hold(self, hold: LedgerOperation) -> ReconciledItem:
        """Release an authorization nobody will capture, under a key derived from its payment."""
        authorization = PaymentAuthorization(provider=hold.provider, authorization_id=hold.provider_ref,
                                             amount=hold.amount, currency=hold.currency)
        try:
            await self.payments.void(hold.payment_ref, authorization, orphan_void_key(hold.payment_ref))
        except DomainError as refused:
            log.error("reconciliation: orphan hold not voided", payment_ref=hold.payment_ref, code=refused.code)
            return _item(hold, "unsettled", "succeeded", f"void_refused:{refused.code}")
        except ProviderUnavailable:
            log.error("reconciliation: provider down, orphan hold not voided", payment_ref=hold.payment_ref)
            return _item(hold, "unsettled", "succeeded", "provider_unavailable")
        log.warning("reconciliation voided an orphan hold", payment_ref=hold.payment_ref, amount=hold.amount)
        return _item(hold, "voided", "voided")

    @activity.defn
    async def record_reconciliation_run(self, run: ReconciliationRun) -> None:
        async with self.engine.begin() as conn:
            await store.record_run(conn, run)


def orphan_void_key(payment_ref: str) -> str:
    """Not the checkout's own ``:void`` key: that one may be recorded as failed already."""
    return f"{payment_ref}:orphan-void"


def _item(operation: LedgerOperation, action: str, status: str, reason: str | None = None) -> ReconciledItem:
    return ReconciledItem(idempotency_key=operation.idempotency_key, payment_ref=operation.payment_ref,
                          kind=operation.kind, action=action, status=status, reason=reason)
