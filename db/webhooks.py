"""Webhook inbox: a provider event is acted on once, whatever the provider redelivers."""

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import orders, payment_operations, webhook_inbox


async def claim(conn: AsyncConnection, provider: str, event_id: str, event_type: str, payload: dict) -> bool:
    """Record the event; False if it was seen before. Concurrent duplicates wait on the key."""
    inserted = await conn.execute(
        insert(webhook_inbox).values(provider=provider, event_id=event_id, event_type=event_type, payload=payload,
                                     outcome="processing")
        .on_conflict_do_nothing().returning(webhook_inbox.c.event_id)
    )
    return inserted.first() is not None


async def settle(conn: AsyncConnection, provider: str, event_id: str, outcome: str) -> None:
    await conn.execute(update(webhook_inbox).where(and_(webhook_inbox.c.provider == provider,
                                                        webhook_inbox.c.event_id == event_id))
                       .values(outcome=outcome))


async def payment_ref_for(conn: AsyncConnection, provider_ref: str) -> str | None:
    """Which checkout/order payment a provider's PaymentIntent belongs to."""
    row = (await conn.execute(
        select(payment_operations.c.payment_ref).where(and_(payment_operations.c.provider_ref == provider_ref,
                                                             payment_operations.c.kind == "authorize"))
    )).first()
    return row.payment_ref if row else None


async def payment_ref_for_dispute(conn: AsyncConnection, provider_refs: list[str]) -> str | None:
    """Which payment a disputed charge belongs to, whatever operation made it: a checkout's
    authorization, a subscription renewal's off-session charge, a capture..."""
    refs = [ref for ref in provider_refs if ref]
    if not refs:
        return None
    row = (await conn.execute(
        select(payment_operations.c.payment_ref).where(payment_operations.c.provider_ref.in_(refs))
        .order_by(payment_operations.c.created_at).limit(1)
    )).first()
    return row.payment_ref if row else None


async def order_for_payment(conn: AsyncConnection, payment_ref: str) -> str | None:
    row = (await conn.execute(
        select(orders.c.id).where(or_(orders.c.payment_ref == payment_ref, orders.c.checkout_id == payment_ref))
    )).first()
    return row.id if row else None
