"""Draft orders (models/draft_orders.py): the row, claimed by its Idempotency-Key, and its state changes.

Every change goes through ``lock`` (``FOR UPDATE``), so concurrent support actions on one draft decide in turn.
"""

from sqlalchemy import select, update, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.rows import row_or_404
from db.tables import carts, checkouts, draft_orders
from models.errors import Conflict


async def claimed(conn: AsyncConnection, idempotency_key: str, request_hash: str) -> bool:
    """Whether a draft was created under this key; with another body: ``idempotency_key_reused`` (409)."""
    row = (await conn.execute(select(draft_orders.c.request_hash)
                              .where(draft_orders.c.idempotency_key == idempotency_key))).first()
    if row is not None and row.request_hash != request_hash:
        raise Conflict("this Idempotency-Key was used with another request", code="idempotency_key_reused")
    return row is not None


async def claim(conn: AsyncConnection, *, draft_id: str, idempotency_key: str, request_hash: str, cart_id: str,
                email: str, shipping_address: dict, billing_address: dict | None, shipping_speed: str,
                created_by: str) -> None:
    """Insert the draft; a twin request that claimed the key meanwhile is ``idempotency_key_in_use`` (409):
    retried, it is answered as a replay."""
    inserted = await conn.execute(
        insert(draft_orders).values(
            id=draft_id, idempotency_key=idempotency_key, request_hash=request_hash, cart_id=cart_id, email=email,
            shipping_address=shipping_address, billing_address=billing_address, shipping_speed=shipping_speed,
            created_by=created_by,
        ).on_conflict_do_nothing(index_elements=[draft_orders.c.idempotency_key]).returning(draft_orders.c.id)
    )
    if inserted.first() is None:
        raise Conflict("another request with this Idempotency-Key is being answered; retry",
                       code="idempotency_key_in_use")


async def get(conn: AsyncConnection, draft_id: str, *, lock: bool = False):
    return await row_or_404(conn, draft_orders, draft_id, what="draft order", code="draft_not_found", lock=lock)


async def change(conn: AsyncConnection, draft_id: str, **values) -> None:
    await conn.execute(update(draft_orders).where(draft_orders.c.id == draft_id)
                       .values(**values, updated_at=func.now()))


async def checkout_of(conn: AsyncConnection, checkout_id: str):
    """(status, order_id, error_code) of a checkout, or None when no checkout row exists (yet)."""
    return (await conn.execute(select(checkouts.c.status, checkouts.c.order_id, checkouts.c.error_code)
                               .where(checkouts.c.id == checkout_id))).first()


async def cart_checkout(conn: AsyncConnection, cart_id: str) -> str | None:
    """The checkout holding or having checked out the cart (started elsewhere, e.g. ``POST /checkouts``)."""
    row = (await conn.execute(select(carts.c.status, carts.c.checkout_id).where(carts.c.id == cart_id))).one()
    return row.checkout_id if row.status != "open" else None
