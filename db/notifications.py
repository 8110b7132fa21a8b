"""What customer emails need from PostgreSQL, and the record of which ones were sent."""

from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import notifications, order_lines, orders, refunds, returns, shipment_items, shipments, variants
from models.customer_emails import OrderNotice, RefundNotice, ReturnNotice
from models.errors import NotFound
from models.notifications import (
    ConfirmationLine, EmailMessage, OrderConfirmation, ShipmentItem, ShipmentNotice, tracking_url,
)


async def already_sent(conn: AsyncConnection, order_id: str, kind: str) -> bool:
    found = await conn.execute(
        select(notifications.c.kind).where(and_(notifications.c.order_id == order_id, notifications.c.kind == kind))
    )
    return found.first() is not None


async def record_sent(conn: AsyncConnection, order_id: str, kind: str, message: EmailMessage, message_id: str) -> None:
    await conn.execute(
        insert(notifications).values(order_id=order_id, kind=kind, recipient=message.to, subject=message.subject,
                                     message_id=message_id)
        .on_conflict_do_nothing(index_elements=["order_id", "kind"])
    )


async def _order(conn: AsyncConnection, order_id: str):
    row = (await conn.execute(select(orders).where(orders.c.id == order_id))).first()
    if row is None:
        raise NotFound(f"order {order_id} not found", code="order_not_found")
    return row


async def titles(conn: AsyncConnection, skus: list[str]) -> dict[str, str]:
    """Today's catalog titles of ``skus`` (a subscription has no order lines to name them yet)."""
    rows = await conn.execute(select(variants.c.sku, variants.c.title).where(variants.c.sku.in_(skus)))
    return dict(rows.tuples().all())


async def order_email(conn: AsyncConnection, order_id: str) -> str:
    return (await _order(conn, order_id)).email


async def order_confirmation(conn: AsyncConnection, order_id: str) -> OrderConfirmation:
    order = await _order(conn, order_id)
    lines = await conn.execute(
        select(order_lines).where(order_lines.c.order_id == order_id).order_by(order_lines.c.sku)
    )
    return OrderConfirmation(
        order_id=order.id, email=order.email, customer_name=order.shipping_address.get("name"),
        currency=order.currency, subtotal=order.subtotal, discount_total=order.discount_total,
        tax_total=order.tax_total, shipping_total=order.shipping_total, total=order.total,
        lines=[ConfirmationLine(sku=line.sku, title=line.title, quantity=line.quantity, unit_price=line.unit_price,
                                discount=line.discount, line_total=line.line_total) for line in lines],
    )


async def shipment_notice(conn: AsyncConnection, order_id: str, shipment_id: str) -> ShipmentNotice:
    order = await _order(conn, order_id)
    shipment = (
        await conn.execute(select(shipments).where(and_(shipments.c.id == shipment_id,
                                                        shipments.c.order_id == order_id)))
    ).first()
    if shipment is None:
        raise NotFound(f"shipment {shipment_id} of order {order_id} not found", code="shipment_not_found")
    # Titles come from the order's lines: what the customer bought, not today's catalog name.
    items = await conn.execute(
        select(shipment_items.c.sku, shipment_items.c.quantity, order_lines.c.title)
        .outerjoin(order_lines, and_(order_lines.c.order_id == order_id, order_lines.c.sku == shipment_items.c.sku))
        .where(shipment_items.c.shipment_id == shipment_id).order_by(shipment_items.c.sku)
    )
    return ShipmentNotice(
        order_id=order_id, shipment_id=shipment_id, email=order.email,
        customer_name=order.shipping_address.get("name"), carrier=shipment.carrier,
        tracking_code=shipment.tracking_code, tracking_url=tracking_url(shipment.carrier, shipment.tracking_code),
        items=[ShipmentItem(sku=i.sku, title=i.title or i.sku, quantity=i.quantity) for i in items],
    )


async def order_notice(conn: AsyncConnection, order_id: str) -> OrderNotice:
    order = await _order(conn, order_id)
    refunded = await conn.scalar(select(func.coalesce(func.sum(refunds.c.amount), 0)).where(
        and_(refunds.c.order_id == order_id, refunds.c.status == "succeeded")))
    return OrderNotice(order_id=order_id, email=order.email, customer_name=order.shipping_address.get("name"),
                       currency=order.currency, total=order.total, refunded=refunded)


async def refund_notice(conn: AsyncConnection, order_id: str, refund_id: str) -> RefundNotice:
    order = await _order(conn, order_id)
    refund = (await conn.execute(select(refunds).where(and_(refunds.c.id == refund_id,
                                                            refunds.c.order_id == order_id)))).first()
    if refund is None:
        raise NotFound(f"refund {refund_id} of order {order_id} not found", code="refund_not_found")
    return RefundNotice(order_id=order_id, refund_id=refund_id, email=order.email,
                        customer_name=order.shipping_address.get("name"), amount=refund.amount,
                        currency=refund.currency)


async def return_notice(conn: AsyncConnection, rma_id: str) -> ReturnNotice:
    rma = (await conn.execute(select(returns).where(returns.c.id == rma_id))).first()
    if rma is None:
        raise NotFound(f"return {rma_id} not found", code="return_not_found")
    order = await _order(conn, rma.order_id)
    titles = dict((await conn.execute(select(order_lines.c.sku, order_lines.c.title)
                                      .where(order_lines.c.order_id == rma.order_id))).tuples().all())
    refund = (await conn.execute(select(refunds.c.amount).where(
        and_(refunds.c.id == rma.refund_id, refunds.c.status == "succeeded")))).first() if rma.refund_id else None
    label = rma.label or {}
    return ReturnNotice(
        order_id=rma.order_id, rma_id=rma_id, email=order.email, customer_name=order.shipping_address.get("name"),
        items=[ShipmentItem(sku=line["sku"], title=titles.get(line["sku"], line["sku"]), quantity=line["quantity"])
               for line in rma.lines],
        label_url=label.get("label_url"), tracking_code=label.get("tracking_code"),
        refund_amount=refund.amount if refund else None, currency=order.currency,
    )
