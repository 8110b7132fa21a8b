"""Orders, their lines and their append-only event log keyed (order_id, event_id)."""

from collections.abc import Mapping

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db import carts as cart_store
from db import checkouts as checkout_store
from db import inventory
from db import promotions as promotion_store
from db.rows import newest_first, of_customer
from db.tables import carts, order_events, order_lines, orders
from models.commerce import OrderDraft
from models.errors import NotFound
from models.ids import public_id
from models.order_state import TRANSITIONS, OrderStatus, transition


def _cart_customer(cart_id: str):
    """The order belongs to whoever the cart belonged to (None for a guest cart or a renewal)."""
    return select(carts.c.customer_id).where(carts.c.id == cart_id).scalar_subquery()


async def _insert_order(conn: AsyncConnection, draft: OrderDraft, *, payment_ref: str, status: OrderStatus) -> bool:
    """The order row and its lines; False when an order already exists for ``draft.checkout_id``.

    A new order is born ``pending_payment`` and enters ``status`` at once (the state machine must allow it): the
    row is written with ``status``, and ``_record_opening`` writes the events of both steps."""
    transition(OrderStatus.PENDING_PAYMENT, status)
    tax_by_sku = {line.sku: line.amount for line in draft.tax.lines}
    inserted = await conn.execute(
        insert(orders).values(
            id=draft.order_id, checkout_id=draft.checkout_id, cart_id=draft.cart_id, email=draft.email,
            status=status, currency=draft.currency, subtotal=draft.priced.subtotal,
            discount_total=draft.priced.discount_total, tax_total=draft.tax.total,
            shipping_total=draft.shipping.amount, total=draft.total,
            tax_exemption=draft.priced.tax_exemption.model_dump() if draft.priced.tax_exemption else None,
            shipping_address=draft.shipping_address.model_dump(mode="json"),
            shipping_method=draft.shipping.model_dump(mode="json"),
            tax_provider=draft.tax.provider, tax_document=draft.tax.document_code,
            payment_ref=payment_ref, payment_provider=draft.authorization.provider,
            authorization_id=draft.authorization.authorization_id, authorized_amount=draft.authorization.amount,
            payment_method=draft.payment_method, multicapture=draft.authorization.multicapture,
            payment_customer_ref=draft.authorization.customer_ref, customer_id=_cart_customer(draft.cart_id),
        ).on_conflict_do_nothing(index_elements=["checkout_id"]).returning(orders.c.id)
    )
    if inserted.first() is None:
        return False
    await conn.execute(order_lines.insert().values([  # one statement for all the lines
        dict(id=public_id("order_line"), order_id=draft.order_id, sku=line.sku, title=line.title,
             quantity=line.quantity, unit_price=line.unit_price, discount=line.discount,
             tax=tax_by_sku.get(line.sku, 0), line_total=line.line_total, tax_code=line.tax_code)
        for line in draft.priced.lines]))
    await inventory.commit_to_order(conn, draft.reservation.reservation_key, draft.order_id)
    return True


async def _record_opening(conn: AsyncConnection, order_id: str, created: tuple[str, dict],
                          paid: tuple[str, str, OrderStatus, dict]) -> None:
    """The two first events of an order ``_insert_order`` just wrote, in one statement: ``order.created``, then
    the payment's (``pending_payment`` → its status). Nothing is read back, as ``append_event`` would: the
    order is this transaction's own and has no events yet. (event id, data) and (event id, type, status, data)."""
    created_id, created_data = created
    paid_id, paid_type, status, paid_data = paid
    await conn.execute(order_events.insert().values([  # a VALUES list: seq follows this order
        dict(order_id=order_id, event_id=created_id, type="order.created", data=created_data,
             from_status=None, to_status=None),
        dict(order_id=order_id, event_id=paid_id, type=paid_type, data=paid_data,
             from_status=OrderStatus.PENDING_PAYMENT, to_status=status),
    ]))


async def create_from_checkout(conn: AsyncConnection, draft: OrderDraft) -> bool:
    """Persist the order a checkout produced, in one transaction. Returns False on replay."""
    if not await _insert_order(conn, draft, payment_ref=draft.checkout_id, status=OrderStatus.AUTHORIZED):
        return False
    # Codes are counted here, inside the order's transaction: an exhausted code fails the order.
    await promotion_store.record_on_order(conn, draft)
    await cart_store.mark_checked_out(conn, draft.cart_id, draft.checkout_id)
    await _record_opening(
        conn, draft.order_id,
        (f"{draft.checkout_id}:created",
         {"checkout_id": draft.checkout_id, "total": draft.total, "currency": draft.currency}),
        (f"{draft.checkout_id}:authorized", "payment.authorized", OrderStatus.AUTHORIZED,
         {"authorization_id": draft.authorization.authorization_id, "amount": draft.authorization.amount,
          "provider": draft.authorization.provider}))
    await checkout_store.finish(conn, draft.checkout_id, status="completed")
    return True


async def create_prepaid(conn: AsyncConnection, draft: OrderDraft, *, payment_ref: str) -> bool:
    """Persist an order with no checkout behind it (a subscription renewal), already paid in full.

    ``draft.checkout_id`` is the order's origin key (unique, e.g. ``<subscription_id>:r<cycle>``) and
    ``draft.authorization`` the captured off-session charge recorded in the ledger under
    ``payment_ref``; the order starts ``captured``, so shipments find nothing left to capture.
    Returns False on replay.
    """
    if not await _insert_order(conn, draft, payment_ref=payment_ref, status=OrderStatus.CAPTURED):
        return False
    await _record_opening(
        conn, draft.order_id,
        (f"{draft.checkout_id}:created", {"origin": draft.checkout_id, "total": draft.total, "currency": draft.currency}),
        (f"{draft.checkout_id}:captured", "payment.captured", OrderStatus.CAPTURED,
         {"payment_ref": payment_ref, "charge_id": draft.authorization.authorization_id,
          "amount": draft.authorization.amount, "provider": draft.authorization.provider, "off_session": True}))
    return True


async def append_event(
    conn: AsyncConnection, order_id: str, event_id: str, event_type: str, *,
    to_status: OrderStatus | None = None, data: dict | None = None,
    transitions: Mapping[OrderStatus, frozenset[OrderStatus]] = TRANSITIONS,
) -> bool:
    """Record an event, applying its status change through the state machine.

    Returns False when ``(order_id, event_id)`` was already recorded (a replay: no-op).
    Raises ``IllegalTransition`` when the order's state does not allow ``to_status`` by ``transitions`` (the
    state machine; REFUND_BOUNCE_TRANSITIONS for a bounced refund, the one way out of ``refunded``).
    Entering ``cancelled`` also gives back the order's discount-code uses, in this transaction
    (``promotions.release_order_codes``; refunds and returns keep them).
    """
    order = (await conn.execute(select(orders.c.status).where(orders.c.id == order_id).with_for_update())).first()
    if order is None:
        raise NotFound(f"order {order_id} not found", code="order_not_found")
    seen = (
        await conn.execute(
            select(order_events.c.event_id).where(
                and_(order_events.c.order_id == order_id, order_events.c.event_id == event_id)
            )
        )
    ).first()
    if seen:
        return False
    from_status = OrderStatus(order.status)
    if to_status is not None:
        transition(from_status, to_status, transitions)
        await conn.execute(update(orders).where(orders.c.id == order_id).values(status=to_status, updated_at=func.now()))
    await conn.execute(
        order_events.insert().values(
            order_id=order_id, event_id=event_id, type=event_type, data=data or {},
            from_status=from_status if to_status else None, to_status=to_status,
        )
    )
    if to_status == OrderStatus.CANCELLED:
        await _release_codes(conn, order_id)
    return True


async def _release_codes(conn: AsyncConnection, order_id: str) -> None:
    """A cancelled order's code uses go back; one event per code, keyed by it (replays are no-ops)."""
    for code in await promotion_store.release_order_codes(conn, order_id):
        await append_event(conn, order_id, f"code:{code}:released", "discount_code.released", data={"code": code})


async def get_order(conn: AsyncConnection, order_id: str) -> dict:
    order = (await conn.execute(select(orders).where(orders.c.id == order_id))).first()
    if order is None:
        raise NotFound(f"order {order_id} not found", code="order_not_found")
    lines = await conn.execute(select(order_lines).where(order_lines.c.order_id == order_id).order_by(order_lines.c.sku))
    events = await conn.execute(
        select(order_events).where(order_events.c.order_id == order_id).order_by(order_events.c.seq)
    )
    return {"order": order._asdict(), "lines": [r._asdict() for r in lines], "events": [r._asdict() for r in events]}


async def search(conn: AsyncConnection, *, email: str | None = None, status: str | None = None, limit: int,
                 after: str | None = None) -> tuple[list[dict], str | None]:
    """Orders newest first, by customer email (case-insensitive) and/or state: (page, next ``after``)."""
    query = select(orders.c.id, orders.c.status, orders.c.currency, orders.c.total, orders.c.email,
                   orders.c.created_at)
    return await newest_first(conn, of_customer(query, orders, email=email, status=status), orders, limit=limit,
                              after=after)
