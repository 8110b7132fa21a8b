"""Customers, their addresses and saved payment methods, and who owns a cart, order or subscription."""

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import (
    carts, checkouts, customer_addresses, customer_payment_methods, customers, orders, returns, subscriptions,
)
from db.rows import newest_first, row_or_404
from models.errors import Conflict, NotFound
from models.ids import public_id
from models.unsubscribe import normalise_email


async def by_email(conn: AsyncConnection, email: str):
    query = select(customers).where(func.lower(customers.c.email) == normalise_email(email))
    return (await conn.execute(query)).first()


async def get(conn: AsyncConnection, customer_id: str):
    """A customer; erased ones are gone as far as the storefront is concerned."""
    row = (await conn.execute(select(customers).where(customers.c.id == customer_id))).first()
    if row is None or row.erased_at is not None:
        raise NotFound(f"customer {customer_id} not found", code="customer_not_found")
    return row


async def is_live(conn: AsyncConnection, customer_id: str) -> bool:
    """Exists and not erased: what a customer token's name must still be."""
    query = select(customers.c.id).where(customers.c.id == customer_id, customers.c.erased_at.is_(None))
    return (await conn.execute(query)).first() is not None


async def by_id_if_live(conn: AsyncConnection, customer_id: str):
    """The customer, or None once erased."""
    row = (await conn.execute(select(customers).where(customers.c.id == customer_id))).first()
    return row if row is not None and row.erased_at is None else None


async def for_checkout(conn: AsyncConnection, email: str) -> str:
    """The customer an email belongs to, created (without a password) on its first order."""
    await conn.execute(insert(customers).values(id=public_id("customer"), email=normalise_email(email))
                       .on_conflict_do_nothing())
    return (await by_email(conn, email)).id


async def sign_up(conn: AsyncConnection, *, email: str, name: str | None, password_hash: str,
                  marketing_consent: bool) -> str:
    """A new account. An email already known (even from a guest checkout) is refused: taking over its
    orders would need proof of the mailbox, which a password sign-up does not give."""
    inserted = await conn.execute(
        insert(customers).values(id=public_id("customer"), email=normalise_email(email), name=name,
                                 password_hash=password_hash, marketing_consent=marketing_consent)
        .on_conflict_do_nothing().returning(customers.c.id))
    customer_id = inserted.scalar()
    if customer_id is None:
        raise Conflict("an account with this email already exists", code="customer_exists")
    return customer_id


async def set_password_hash(conn: AsyncConnection, customer_id: str, password_hash: str) -> None:
    """A rehash with today's argon2 parameters, after a successful sign-in."""
    await conn.execute(update(customers).where(customers.c.id == customer_id)
                       .values(password_hash=password_hash, updated_at=func.now()))


# ---- addresses and saved payment methods
async def addresses(conn: AsyncConnection, customer_id: str) -> list[dict]:
    rows = await conn.execute(select(customer_addresses).where(customer_addresses.c.customer_id == customer_id)
                              .order_by(customer_addresses.c.created_at, customer_addresses.c.id))
    return [{"id": row.id, **row.address} for row in rows]


async def add_address(conn: AsyncConnection, customer_id: str, address: dict) -> str:
    address_id = public_id("customer_address")
    await conn.execute(customer_addresses.insert().values(id=address_id, customer_id=customer_id, address=address))
    return address_id


async def delete_address(conn: AsyncConnection, customer_id: str, address_id: str) -> None:
    deleted = await conn.execute(customer_addresses.delete().where(
        customer_addresses.c.id == address_id, customer_addresses.c.customer_id == customer_id))
    if deleted.rowcount == 0:
        raise NotFound(f"address {address_id} not found", code="address_not_found")


async def save_payment_method(conn: AsyncConnection, customer_id: str, *, provider: str, provider_ref: str,
                              payment_method: str | None) -> None:
    await conn.execute(insert(customer_payment_methods).values(
        customer_id=customer_id, provider=provider, provider_ref=provider_ref, payment_method=payment_method,
    ).on_conflict_do_nothing())


# ---- linking: what belongs to whom
async def link_cart(conn: AsyncConnection, cart_id: str, customer_id: str) -> None:
    await conn.execute(update(carts).where(carts.c.id == cart_id).values(customer_id=customer_id))


async def link_subscription(conn: AsyncConnection, subscription_id: str, customer_id: str) -> None:
    await conn.execute(update(subscriptions).where(subscriptions.c.id == subscription_id)
                       .values(customer_id=customer_id))


async def cart_owner(conn: AsyncConnection, cart_id: str) -> str | None:
    """The customer a cart belongs to (None: a guest's); 404 when there is no such cart."""
    return (await row_or_404(conn, carts, cart_id, what="cart", code="cart_not_found",
                             columns=(carts.c.customer_id,))).customer_id


async def checkout_cart(conn: AsyncConnection, checkout_id: str) -> str:
    return (await row_or_404(conn, checkouts, checkout_id, what="checkout", code="checkout_not_found",
                             columns=(checkouts.c.cart_id,))).cart_id


async def order_owner(conn: AsyncConnection, order_id: str) -> str | None:
    return (await row_or_404(conn, orders, order_id, what="order", code="order_not_found",
                             columns=(orders.c.customer_id,))).customer_id


async def return_order(conn: AsyncConnection, rma_id: str) -> str:
    return (await row_or_404(conn, returns, rma_id, what="return", code="return_not_found",
                             columns=(returns.c.order_id,))).order_id


async def subscription_owner(conn: AsyncConnection, subscription_id: str) -> str | None:
    return (await row_or_404(conn, subscriptions, subscription_id, what="subscription",
                             code="subscription_not_found", columns=(subscriptions.c.customer_id,))).customer_id


# ---- a customer's own orders and subscriptions, newest first
async def orders_page(conn: AsyncConnection, customer_id: str, *, limit: int,
                      after: str | None) -> tuple[list[dict], str | None]:
    query = select(orders.c.id, orders.c.status, orders.c.currency, orders.c.total, orders.c.email,
                   orders.c.created_at).where(orders.c.customer_id == customer_id)
    return await newest_first(conn, query, orders, limit=limit, after=after)


async def subscriptions_page(conn: AsyncConnection, customer_id: str, *, limit: int,
                             after: str | None) -> tuple[list[dict], str | None]:
    query = select(subscriptions.c.id, subscriptions.c.status, subscriptions.c.email, subscriptions.c.currency,
                   subscriptions.c.interval, subscriptions.c.every_n_days.label("n"),
                   subscriptions.c.next_renewal_at, subscriptions.c.created_at,
                   ).where(subscriptions.c.customer_id == customer_id)
    return await newest_first(conn, query, subscriptions, limit=limit, after=after)
