"""Subscriptions: the idempotency anchor for POST /subscriptions, the view the workflow keeps current,
its event history and the orders its renewals placed."""

from datetime import date

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db import orders as order_store
from db.rows import newest_first, of_customer
from db.tables import orders, subscription_events, subscription_orders, subscriptions
from models.commerce import OrderDraft
from models.errors import Conflict, NotFound
from models.subscriptions import SubscriptionEvent, SubscriptionView


async def claim(conn: AsyncConnection, *, subscription_id: str, idempotency_key: str, request_hash: str,
                **values) -> tuple:
    """Insert the subscription for ``idempotency_key`` or return the one already there.

    Returns ``(row, created)``; the same key with another body raises ``idempotency_key_reused``.
    """
    inserted = await conn.execute(
        insert(subscriptions).values(id=subscription_id, idempotency_key=idempotency_key, request_hash=request_hash,
                                     **values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(subscriptions.c.id)
    )
    created = inserted.first() is not None
    row = (await conn.execute(select(subscriptions).where(subscriptions.c.idempotency_key == idempotency_key)
                              .with_for_update())).one()
    if row.request_hash != request_hash:
        raise Conflict("this Idempotency-Key was already used with a different request body",
                       code="idempotency_key_reused")
    return row, created


async def get(conn: AsyncConnection, subscription_id: str):
    row = (await conn.execute(select(subscriptions).where(subscriptions.c.id == subscription_id))).first()
    if row is None:
        raise NotFound(f"subscription {subscription_id} not found", code="subscription_not_found")
    return row


async def search(conn: AsyncConnection, *, email: str | None = None, status: str | None = None, limit: int,
                 after: str | None = None) -> tuple[list[dict], str | None]:
    """Subscriptions newest first, by customer email (case-insensitive) and/or status: (page, next ``after``)."""
    query = select(subscriptions.c.id, subscriptions.c.status, subscriptions.c.email, subscriptions.c.currency,
                   subscriptions.c.interval, subscriptions.c.every_n_days, subscriptions.c.next_renewal_at,
                   subscriptions.c.created_at)
    return await newest_first(conn, of_customer(query, subscriptions, email=email, status=status), subscriptions,
                              limit=limit, after=after)


async def set_customer(conn: AsyncConnection, subscription_id: str, *, provider: str, customer_ref: str) -> None:
    await conn.execute(update(subscriptions).where(subscriptions.c.id == subscription_id)
                       .values(payment_provider=provider, customer_ref=customer_ref, updated_at=func.now()))


async def record(conn: AsyncConnection, current: SubscriptionView, event: SubscriptionEvent | None = None) -> bool:
    """Store the workflow's view unless a newer one is already there, and the event once.

    Returns whether the event was new (False on replay or without an event).
    """
    await conn.execute(
        update(subscriptions)
        .where(and_(subscriptions.c.id == current.subscription_id, subscriptions.c.state_version <= current.version))
        .values(status=current.status, lines=[line.model_dump() for line in current.lines],
                interval=current.interval, every_n_days=current.every_n_days,
                payment_method=current.payment_method, customer_ref=current.customer_ref,
                next_renewal_at=current.next_renewal_at, paused_until=current.paused_until,
                skip_next=current.skip_next, cancel_at_period_end=current.cancel_at_period_end,
                cancel_reason=current.cancel_reason,
                dunning=current.dunning.model_dump(mode="json") if current.dunning else None,
                state_version=current.version, updated_at=func.now())
    )
    return event is not None and await append_event(conn, current.subscription_id, event)


async def append_event(conn: AsyncConnection, subscription_id: str, event: SubscriptionEvent) -> bool:
    inserted = await conn.execute(
        insert(subscription_events).values(subscription_id=subscription_id, event_id=event.event_id, type=event.type,
                                           data=event.data)
        .on_conflict_do_nothing().returning(subscription_events.c.event_id)
    )
    return inserted.first() is not None


async def has_event(conn: AsyncConnection, subscription_id: str, event_id: str) -> bool:
    found = await conn.execute(select(subscription_events.c.event_id).where(and_(
        subscription_events.c.subscription_id == subscription_id, subscription_events.c.event_id == event_id)))
    return found.first() is not None


async def events(conn: AsyncConnection, subscription_id: str, limit: int = 50) -> list:
    rows = await conn.execute(
        select(subscription_events).where(subscription_events.c.subscription_id == subscription_id)
        .order_by(subscription_events.c.seq.desc()).limit(limit))
    return list(reversed(list(rows)))


async def create_renewal_order(conn: AsyncConnection, draft: OrderDraft, *, subscription_id: str, cycle: int,
                               renewal_date: date, payment_ref: str) -> bool:
    """The cycle's order (paid up front) and its link to the subscription, in one transaction.

    The link's primary key (subscription, cycle) refuses a second order for the same cycle.
    """
    created = await order_store.create_prepaid(conn, draft, payment_ref=payment_ref)
    if created:
        await conn.execute(subscription_orders.insert().values(
            subscription_id=subscription_id, cycle=cycle, order_id=draft.order_id, renewal_date=renewal_date))
        # A renewal belongs to the subscription's customer.
        await conn.execute(update(orders).where(orders.c.id == draft.order_id).values(
            customer_id=select(subscriptions.c.customer_id).where(subscriptions.c.id == subscription_id)
            .scalar_subquery()))
        await append_event(conn, subscription_id, SubscriptionEvent(
            event_id=f"cycle-{cycle}:renewed", type="renewed",
            data={"cycle": cycle, "order_id": draft.order_id, "total": draft.total, "currency": draft.currency}))
    return created


async def renewal_orders(conn: AsyncConnection, subscription_id: str) -> list:
    rows = await conn.execute(
        select(subscription_orders.c.cycle, subscription_orders.c.renewal_date, orders.c.id, orders.c.status,
               orders.c.total, orders.c.currency, orders.c.created_at)
        .join(orders, orders.c.id == subscription_orders.c.order_id)
        .where(subscription_orders.c.subscription_id == subscription_id).order_by(subscription_orders.c.cycle)
    )
    return list(rows)
