"""What saving a checkout's card for later charges needs to know, read in one round trip (it is on the checkout's
path): who pays, whether they already have a provider customer, and whether this authorization was begun before."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import carts, checkouts, customer_payment_methods, orders, payment_operations


@dataclass(frozen=True)
class CheckoutPayer:
    email: str | None  # None: no checkout row (a direct call, as in tests)
    customer_id: str | None  # the signed-in shopper's account; None for a guest
    provider_customer: str | None  # their provider customer from an earlier checkout or subscription
    begun_hash: str | None  # the request hash of an authorization already recorded under the key


async def checkout_payer(conn: AsyncConnection, checkout_id: str, idempotency_key: str, provider: str) -> CheckoutPayer:
    customer_id = (select(carts.c.customer_id).join(checkouts, checkouts.c.cart_id == carts.c.id)
                   .where(checkouts.c.id == checkout_id).scalar_subquery())
    row = (await conn.execute(select(
        select(checkouts.c.email).where(checkouts.c.id == checkout_id).scalar_subquery().label("email"),
        customer_id.label("customer_id"),
        select(customer_payment_methods.c.provider_ref)
        .where(customer_payment_methods.c.customer_id == customer_id, customer_payment_methods.c.provider == provider)
        .order_by(customer_payment_methods.c.created_at.desc()).limit(1).scalar_subquery().label("provider_customer"),
        select(payment_operations.c.request_hash).where(payment_operations.c.idempotency_key == idempotency_key)
        .scalar_subquery().label("begun_hash"),
    ))).one()
    return CheckoutPayer(row.email, row.customer_id, row.provider_customer, row.begun_hash)


async def order_customer(conn: AsyncConnection, order_id: str) -> str | None:
    """The provider customer the order's card was saved for (None: placed before cards were saved)."""
    return (await conn.execute(select(orders.c.payment_customer_ref).where(orders.c.id == order_id))).scalar()
