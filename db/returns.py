"""Return (RMA) records and the quantities that decide what may still come back."""

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.rows import row_or_404
from db.tables import order_lines, returns, shipment_items, shipments
from models import workflow_ids

OPEN_OR_DONE = ("requested", "approved", "awaiting_return", "received", "inspected", "refunded", "exchanged",
                "completed")


async def get(conn: AsyncConnection, rma_id: str, *, lock: bool = False):
    return await row_or_404(conn, returns, rma_id, what="return", code="return_not_found", lock=lock)


async def find(conn: AsyncConnection, rma_id: str):
    return (await conn.execute(select(returns).where(returns.c.id == rma_id))).first()


async def delivered(conn: AsyncConnection, order_id: str):
    """(quantities delivered per sku, last delivery time)."""
    rows = list(await conn.execute(
        select(shipment_items.c.sku, shipment_items.c.quantity, shipments.c.delivered_at)
        .join(shipments, shipments.c.id == shipment_items.c.shipment_id)
        .where(and_(shipments.c.order_id == order_id, shipments.c.delivered_at.is_not(None)))
    ))
    quantities: dict[str, int] = {}
    for row in rows:
        quantities[row.sku] = quantities.get(row.sku, 0) + row.quantity
    return quantities, max((row.delivered_at for row in rows), default=None)


async def returned(conn: AsyncConnection, order_id: str, *, statuses=OPEN_OR_DONE, excluding: str | None = None):
    rows = await conn.execute(select(returns.c.id, returns.c.lines).where(
        and_(returns.c.order_id == order_id, returns.c.status.in_(statuses))))
    totals: dict[str, int] = {}
    for rma_id, lines in rows:
        if rma_id != excluding:
            for line in lines:
                totals[line["sku"]] = totals.get(line["sku"], 0) + line["quantity"]
    return totals


async def ordered(conn: AsyncConnection, order_id: str) -> dict[str, int]:
    rows = await conn.execute(select(order_lines.c.sku, order_lines.c.quantity).where(order_lines.c.order_id == order_id))
    return {sku: quantity for sku, quantity in rows}


async def create(conn: AsyncConnection, *, rma_id: str, order_id: str, lines: list[dict], exchange: bool) -> None:
    await conn.execute(returns.insert().values(id=rma_id, order_id=order_id, lines=lines, exchange=exchange,
                                               workflow_id=workflow_ids.return_(rma_id)))


async def set_status(conn: AsyncConnection, rma_id: str, status: str, **values) -> None:
    await conn.execute(update(returns).where(returns.c.id == rma_id)
                       .values(status=status, updated_at=func.now(), **values))


async def by_tracking_code(conn: AsyncConnection, tracking_code: str):
    return (await conn.execute(select(returns).where(returns.c.label["tracking_code"].astext == tracking_code))).first()


async def for_order(conn: AsyncConnection, order_id: str) -> list:
    return list(await conn.execute(select(returns).where(returns.c.order_id == order_id)
                                   .order_by(returns.c.created_at, returns.c.id)))


async def create_exchange_order(conn: AsyncConnection, *, order_id: str, rma_id: str, original, units: dict[str, int],
                                now) -> None:
    """A no-charge replacement of the accepted units, holding stock like a checkout's order does."""
    from datetime import timedelta

    from db import inventory
    from db import orders as order_store
    from db.tables import orders
    from models.ids import public_id
    from models.order_state import OrderStatus

    key = f"{rma_id}:exchange"
    await inventory.reserve(conn, key, units, now=now, expires_at=now + timedelta(hours=1))
    titles = dict((await conn.execute(select(order_lines.c.sku, order_lines.c.title)
                                      .where(order_lines.c.order_id == original.id))).all())
    await conn.execute(orders.insert().values(
        id=order_id, checkout_id=key, cart_id=original.cart_id, email=original.email,
        status=OrderStatus.PENDING_PAYMENT, currency=original.currency, subtotal=0, discount_total=0, tax_total=0,
        shipping_total=0, total=0, shipping_address=original.shipping_address,
        shipping_method=original.shipping_method, tax_provider="none", payment_ref=key, payment_provider="none",
        authorization_id="none", authorized_amount=0, payment_method=None,
    ))
    for sku, quantity in sorted(units.items()):
        await conn.execute(order_lines.insert().values(
            id=public_id("order_line"), order_id=order_id, sku=sku, title=titles.get(sku, sku), quantity=quantity,
            unit_price=0, discount=0, tax=0, line_total=0))
    await inventory.commit_to_order(conn, key, order_id)
    await order_store.append_event(conn, order_id, f"{key}:created", "order.created",
                                   data={"exchange_for": original.id, "rma_id": rma_id})
    await order_store.append_event(conn, order_id, f"{key}:no_charge", "payment.not_required",
                                   to_status=OrderStatus.AUTHORIZED, data={"reason": "exchange"})
