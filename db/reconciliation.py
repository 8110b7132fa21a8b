"""Reconciliation's queries: stale pending ledger operations, orphan holds, and the runs' record."""

from datetime import datetime

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import checkouts, orders, payment_operations, reconciliation_runs
from models.order_state import OrderStatus
from models.reconciliation import LedgerOperation, ReconciliationRun

_FIELDS = (payment_operations.c.idempotency_key, payment_operations.c.payment_ref, payment_operations.c.kind,
           payment_operations.c.provider, payment_operations.c.provider_ref, payment_operations.c.amount,
           payment_operations.c.currency)


def _operation(row) -> LedgerOperation:
    return LedgerOperation(**row._mapping)


async def stale_pending(conn: AsyncConnection, older_than: datetime, limit: int) -> list[LedgerOperation]:
    """Operations still pending since before ``older_than``: their answer was lost (oldest first).

    Younger ones may still be in a live workflow's hands and are left alone.
    """
    rows = await conn.execute(
        select(*_FIELDS).where(and_(payment_operations.c.status == "pending",
                                    payment_operations.c.created_at < older_than))
        .order_by(payment_operations.c.created_at).limit(limit)
    )
    return [_operation(row) for row in rows]


def _void_of(payment_ref, statuses: tuple[str, ...]):
    voids = payment_operations.alias("voids")
    return exists().where(and_(voids.c.payment_ref == payment_ref, voids.c.kind == "void",
                               voids.c.status.in_(statuses)))


async def orphan_holds(conn: AsyncConnection, older_than: datetime, limit: int) -> list[LedgerOperation]:
    """Authorizations the provider still holds for nothing: no live void, nothing captured, and either
    a checkout that failed without an order, or an order that was cancelled.

    A failed checkout or a cancelled order voids its hold itself; these are the ones whose void never
    happened (its answer was lost, it was refused, or the compensation gave up).
    """
    ops = payment_operations
    no_order = ~exists().where(or_(orders.c.checkout_id == ops.c.payment_ref,
                                   orders.c.payment_ref == ops.c.payment_ref))
    checkout_failed = exists().where(and_(checkouts.c.id == ops.c.payment_ref, checkouts.c.status == "failed"))
    order_cancelled = exists().where(and_(orders.c.payment_ref == ops.c.payment_ref,
                                          orders.c.status == OrderStatus.CANCELLED.value))
    rows = await conn.execute(
        select(*_FIELDS).where(and_(
            ops.c.kind == "authorize", ops.c.status == "succeeded", ops.c.provider_ref.is_not(None),
            ops.c.created_at < older_than, or_(and_(no_order, checkout_failed), order_cancelled),
            ~_void_of(ops.c.payment_ref, ("pending", "succeeded")),
            ~_capture_of(ops.c.payment_ref),
        )).order_by(ops.c.created_at).limit(limit)
    )
    return [_operation(row) for row in rows]


def _capture_of(payment_ref):
    captures = payment_operations.alias("captures")
    return exists().where(and_(captures.c.payment_ref == payment_ref, captures.c.kind == "capture",
                               captures.c.status.in_(("pending", "succeeded"))))


async def record_run(conn: AsyncConnection, run: ReconciliationRun) -> None:
    """Keep a run's summary; the same run recorded again (an activity retry) overwrites itself."""
    values = {"started_at": run.started_at, "finished_at": run.finished_at, **run.counts(),
              "items": [item.model_dump(mode="json") for item in run.items]}
    await conn.execute(insert(reconciliation_runs).values(run_id=run.run_id, **values)
                       .on_conflict_do_update(index_elements=[reconciliation_runs.c.run_id], set_=values))


async def last_run(conn: AsyncConnection) -> ReconciliationRun | None:
    row = (await conn.execute(select(reconciliation_runs).order_by(reconciliation_runs.c.finished_at.desc())
                              .limit(1))).first()
    return ReconciliationRun.model_validate(dict(row._mapping)) if row else None
