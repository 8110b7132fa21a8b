"""A dispute's later events on its order: funds moved, closed won or lost. Replays are no-ops."""

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db import orders as order_store
from db.tables import order_events, orders
from models.disputes import DisputeUpdate, status_after_close
from models.order_state import OrderStatus


async def status_before(conn: AsyncConnection, order_id: str, dispute_id: str) -> OrderStatus | None:
    """Where the order was when the dispute moved it to ``disputed`` (None if it never did)."""
    row = (await conn.execute(select(order_events.c.from_status).where(and_(
        order_events.c.order_id == order_id, order_events.c.event_id == f"{dispute_id}:opened")))).first()
    return OrderStatus(row.from_status) if row is not None and row.from_status else None


async def record(conn: AsyncConnection, order_id: str, update: DisputeUpdate) -> str:
    """Record the update once on the order, closing it to the right state; returns the order's status."""
    current = OrderStatus((await conn.execute(
        select(orders.c.status).where(orders.c.id == order_id).with_for_update())).scalar_one())
    data = {"dispute_id": update.dispute_id, "outcome": update.kind}
    if update.closes:
        target = status_after_close(update.kind, current=current,
                                    before_dispute=await status_before(conn, order_id, update.dispute_id))
        await order_store.append_event(conn, order_id, f"{update.dispute_id}:closed", "payment.dispute_closed",
                                       to_status=target, data=data)
    else:
        await order_store.append_event(conn, order_id, f"{update.dispute_id}:{update.kind}",
                                       f"payment.dispute_{update.kind}", data=data)
    return (await conn.execute(select(orders.c.status).where(orders.c.id == order_id))).scalar_one()
