"""What abandoned-cart reminders need from PostgreSQL, and the record of those sent."""

from sqlalchemy import and_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import cart_lines, cart_reminders, carts, variants
from models.cart_recovery import CartReminder, ReminderItem
from models.errors import NotFound


async def cart_state(conn: AsyncConnection, cart_id: str) -> tuple[str, CartReminder | None]:
    """The cart's status and, when it has an email and lines, what a reminder would say."""
    cart = (await conn.execute(select(carts).where(carts.c.id == cart_id))).first()
    if cart is None:
        raise NotFound(f"cart {cart_id} not found", code="cart_not_found")
    rows = await conn.execute(
        select(cart_lines.c.sku, cart_lines.c.quantity, cart_lines.c.unit_price, variants.c.title)
        .join(variants, variants.c.sku == cart_lines.c.sku)
        .where(cart_lines.c.cart_id == cart_id).order_by(cart_lines.c.created_at, cart_lines.c.id)
    )
    items = [ReminderItem(sku=r.sku, title=r.title, quantity=r.quantity, unit_price=r.unit_price) for r in rows]
    if not cart.email or not items:
        return cart.status, None
    return cart.status, CartReminder(cart_id=cart_id, email=cart.email, currency=cart.currency, items=items)


async def already_sent(conn: AsyncConnection, cart_id: str, reminder: int) -> bool:
    found = await conn.execute(select(cart_reminders.c.cart_id).where(
        and_(cart_reminders.c.cart_id == cart_id, cart_reminders.c.reminder == reminder)))
    return found.first() is not None


async def record_sent(conn: AsyncConnection, cart_id: str, reminder: int, recipient: str, message_id: str) -> None:
    await conn.execute(
        insert(cart_reminders).values(cart_id=cart_id, reminder=reminder, recipient=recipient, message_id=message_id)
        .on_conflict_do_nothing(index_elements=["cart_id", "reminder"])
    )


async def sent(conn: AsyncConnection, cart_id: str) -> list:
    """The cart's reminders, first first."""
    rows = await conn.execute(select(cart_reminders).where(cart_reminders.c.cart_id == cart_id)
                              .order_by(cart_reminders.c.reminder))
    return list(rows)
