"""Refund records: the business side of a refund (lines, reason, actor) next to the ledger's money."""

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import order_events, refunds
from models.errors import Conflict


async def claim(conn: AsyncConnection, *, refund_id: str, order_id: str, request_hash: str, amount: int,
                currency: str, lines: list, include_shipping: bool, reason: str, actor: str | None):
    """Insert the refund once; a replay returns it, a different body under the same key is a conflict."""
    await conn.execute(
        insert(refunds).values(id=refund_id, order_id=order_id, request_hash=request_hash, amount=amount,
                               currency=currency, lines=lines, include_shipping=include_shipping, reason=reason,
                               actor=actor).on_conflict_do_nothing()
    )
    row = await get(conn, refund_id)
    if row.request_hash != request_hash:
        raise Conflict("this Idempotency-Key was already used for a different refund", code="idempotency_key_reused")
    return row


async def get(conn: AsyncConnection, refund_id: str):
    return (await conn.execute(select(refunds).where(refunds.c.id == refund_id))).first()


async def refunded_quantities(conn: AsyncConnection, order_id: str, *, excluding: str) -> dict[str, int]:
    rows = await conn.execute(select(refunds.c.lines).where(and_(
        refunds.c.order_id == order_id, refunds.c.status.in_(("pending", "succeeded")), refunds.c.id != excluding)))
    totals: dict[str, int] = {}
    for (lines,) in rows:
        for line in lines:
            totals[line["sku"]] = totals.get(line["sku"], 0) + line["quantity"]
    return totals


async def finish(conn: AsyncConnection, refund_id: str, *, status: str, tax_refunded: int = 0) -> None:
    await conn.execute(update(refunds).where(refunds.c.id == refund_id)
                       .values(status=status, tax_refunded=tax_refunded, updated_at=func.now()))


async def for_order(conn: AsyncConnection, order_id: str) -> list:
    return list(await conn.execute(select(refunds).where(refunds.c.order_id == order_id)
                                   .order_by(refunds.c.created_at, refunds.c.id)))


async def blocking_dispute(conn: AsyncConnection, order_id: str) -> str | None:
    """A dispute on the order that is still open or was lost (a refund would pay twice), or None.

    Read from the order's events, not its status: an order that could not enter ``disputed``
    (or left it by shipping) still has the dispute.
    """
    rows = await conn.execute(
        select(order_events.c.type, order_events.c.data["dispute_id"].astext, order_events.c.data["outcome"].astext)
        .where(and_(order_events.c.order_id == order_id,
                    order_events.c.type.in_(("payment.disputed", "payment.dispute_closed"))))
        .order_by(order_events.c.seq)
    )
    opened: list[str] = []
    settled: set[str] = set()
    for kind, dispute_id, outcome in rows:
        if kind == "payment.disputed":
            opened.append(dispute_id)
        elif outcome != "lost":
            settled.add(dispute_id)
    return next((dispute_id for dispute_id in opened if dispute_id not in settled), None)
