"""What an invoice prints, read from the order row and its lines exactly as recorded."""

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import order_lines, orders, payment_operations
from models.commerce import Address
from models.errors import Conflict, NotFound
from models.invoice import InvoiceData, InvoiceLine


async def first_capture_at(conn: AsyncConnection, payment_ref: str):
    """When money was first captured for ``payment_ref``; None while nothing has been."""
    return (await conn.execute(
        select(func.min(payment_operations.c.created_at)).where(and_(
            payment_operations.c.payment_ref == payment_ref, payment_operations.c.kind == "capture",
            payment_operations.c.status == "succeeded"))
    )).scalar_one()


async def invoice_data(conn: AsyncConnection, order_id: str, *, seller_name: str, seller_address: str) -> InvoiceData:
    """Raises NotFound for an unknown order and Conflict until a capture has succeeded."""
    order = (await conn.execute(select(orders).where(orders.c.id == order_id))).first()
    if order is None:
        raise NotFound(f"order {order_id} not found", code="order_not_found")
    # An invoice records a sale; until money is captured there is only an authorization.
    captured_at = await first_capture_at(conn, order.payment_ref)
    if captured_at is None:
        raise Conflict(f"order {order_id} has no captured payment yet", code="invoice_not_available")
    lines = await conn.execute(
        select(order_lines).where(order_lines.c.order_id == order_id).order_by(order_lines.c.sku)
    )
    return InvoiceData(
        order_id=order.id, order_date=order.created_at, invoice_date=captured_at, currency=order.currency,
        seller_name=seller_name, seller_address=seller_address, customer_email=order.email,
        ship_to=Address.model_validate(order.shipping_address),
        lines=[InvoiceLine(sku=r.sku, title=r.title, quantity=r.quantity, unit_price=r.unit_price,
                           discount=r.discount, tax=r.tax, line_total=r.line_total) for r in lines],
        subtotal=order.subtotal, discount_total=order.discount_total, tax_total=order.tax_total,
        shipping_total=order.shipping_total, total=order.total,
    )
