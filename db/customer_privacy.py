"""Privacy requests (GDPR/CCPA): everything held about a customer, and its erasure.

A customer's rows are found by ``customer_id`` and, for rows written before customers existed (or by
a guest checkout under the same address), by email in any case.

Erasure anonymises personal data in place and keeps what the law requires of the financial records:
orders keep their amounts, lines, tax and the tax jurisdiction of the address (city, region, postal code,
country); the payment ledger and refunds hold no personal data and stay. The email suppression list
stays too: it exists so the address is never mailed marketing again, the one use the law allows.
The audit log keeps its entries (who did what, when) but the customer's email in their details is replaced.

Out of reach: Temporal workflow histories (inputs, memo, the CustomerEmail search attribute) cannot be
rewritten; they are deleted when the namespace's retention period after the workflow closed has passed.
"""

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db import customers as store
from db.tables import (
    audit_log, cart_reminders, carts, checkouts, code_redemptions, customer_addresses, customer_group_members,
    customer_payment_methods, draft_orders, customers, email_suppressions, fraud_screenings, notifications, orders,
    subscriptions,
)
from models.errors import Conflict, NotFound

ERASED = "[erased]"
# Orders still moving (money held, parcels to ship, disputes): erasing them would leave support blind.
OPEN_ORDER_STATUSES = ("pending_payment", "authorized", "captured", "partially_fulfilled", "disputed")


def erased_email(customer_id: str) -> str:
    """Unique per customer (customers.email is unique), deliverable nowhere (RFC 6761 .invalid)."""
    return f"erased+{customer_id}@erased.invalid"


async def _customer(conn: AsyncConnection, customer_id: str, *, lock: bool = False):
    query = select(customers).where(customers.c.id == customer_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise NotFound(f"customer {customer_id} not found", code="customer_not_found")
    return row


def _theirs(table, customer) -> object:
    """Rows of ``table`` that belong to ``customer``: linked to them, or under their email."""
    by_email = func.lower(table.c.email) == customer.email.lower()
    return or_(table.c.customer_id == customer.id, by_email) if "customer_id" in table.c else by_email


async def _rows(conn: AsyncConnection, query) -> list[dict]:
    return [_jsonable(row._asdict()) for row in await conn.execute(query)]


def _audit_carries_email(customer) -> object:
    return func.lower(audit_log.c.details["email"].astext) == customer.email.lower()


def _audit_mentions(customer) -> object:
    """Audit entries naming the customer: about their record, or carrying their email in the details."""
    return or_(audit_log.c.target == customer.id, _audit_carries_email(customer))


def _jsonable(row: dict) -> dict:
    return {key: value.isoformat() if hasattr(value, "isoformat") else value for key, value in row.items()}


async def export(conn: AsyncConnection, customer_id: str) -> dict:
    """Everything held about the customer, as JSON-ready data."""
    customer = await _customer(conn, customer_id)
    profile = _jsonable(customer._asdict())
    profile.pop("password_hash")
    order_rows = await _rows(conn, select(orders).where(_theirs(orders, customer)).order_by(orders.c.created_at))
    return {
        "profile": profile,
        "marketing_consent": customer.marketing_consent,
        "addresses": await store.addresses(conn, customer_id),
        "payment_methods": await _rows(conn, select(customer_payment_methods).where(
            customer_payment_methods.c.customer_id == customer_id)),
        "orders": order_rows,
        "subscriptions": await _rows(conn, select(subscriptions).where(_theirs(subscriptions, customer))),
        "carts": await _rows(conn, select(carts).where(_theirs(carts, customer))),
        "draft_orders": await _rows(conn, select(draft_orders).where(_theirs(draft_orders, customer))),
        "fraud_screenings": await _rows(conn, select(fraud_screenings).where(_theirs(fraud_screenings, customer))),
        "email_suppressions": await _rows(conn, select(email_suppressions).where(
            email_suppressions.c.email == customer.email.lower())),
        "emails_sent": await _rows(conn, select(notifications).where(
            notifications.c.order_id.in_([order["id"] for order in order_rows]))),
        "audit_entries": await _rows(conn, select(audit_log).where(_audit_mentions(customer)).order_by(
            audit_log.c.seq)),
    }


async def erase(conn: AsyncConnection, customer_id: str) -> bool:
    """Anonymise the customer; False when already erased (nothing left to do). Refused while they have
    open orders or live subscriptions (``409 customer_has_open_orders``)."""
    customer = await _customer(conn, customer_id, lock=True)
    if customer.erased_at is not None:
        return False
    await _assert_nothing_open(conn, customer)
    anonymous = erased_email(customer_id)
    order_ids = select(orders.c.id).where(_theirs(orders, customer)).scalar_subquery()
    cart_ids = select(carts.c.id).where(_theirs(carts, customer)).scalar_subquery()
    await conn.execute(update(orders).where(_theirs(orders, customer)).values(
        email=anonymous, customer_id=customer_id, shipping_address=_tax_jurisdiction_only(orders.c.shipping_address)))
    await conn.execute(update(subscriptions).where(_theirs(subscriptions, customer)).values(
        email=anonymous, customer_id=customer_id,
        shipping_address=_tax_jurisdiction_only(subscriptions.c.shipping_address)))
    await conn.execute(update(carts).where(_theirs(carts, customer)).values(email=None, customer_id=customer_id))
    await conn.execute(update(cart_reminders).where(cart_reminders.c.cart_id.in_(cart_ids)).values(recipient=anonymous))
    await conn.execute(update(checkouts).where(_theirs(checkouts, customer)).values(email=anonymous))
    await conn.execute(update(draft_orders).where(_theirs(draft_orders, customer)).values(
        email=anonymous, billing_address=None,
        shipping_address=_tax_jurisdiction_only(draft_orders.c.shipping_address)))
    await conn.execute(update(fraud_screenings).where(_theirs(fraud_screenings, customer)).values(
        email=anonymous, client_ip=None))
    await conn.execute(update(code_redemptions).where(_theirs(code_redemptions, customer)).values(email=anonymous))
    await conn.execute(update(notifications).where(notifications.c.order_id.in_(order_ids)).values(
        recipient=anonymous))
    await conn.execute(update(audit_log).where(_audit_carries_email(customer)).values(
        details=audit_log.c.details.op("||")(func.jsonb_build_object("email", anonymous))))
    await conn.execute(customer_group_members.delete().where(_theirs(customer_group_members, customer)))
    await conn.execute(customer_addresses.delete().where(customer_addresses.c.customer_id == customer_id))
    await conn.execute(customer_payment_methods.delete().where(customer_payment_methods.c.customer_id == customer_id))
    await conn.execute(update(customers).where(customers.c.id == customer_id).values(
        email=anonymous, name=None, password_hash=None, marketing_consent=False, erased_at=func.now(),
        updated_at=func.now()))
    return True


def _tax_jurisdiction_only(address):
    """The address minus who and where exactly: the name and street lines go, the tax jurisdiction stays."""
    return address.op("||")(func.jsonb_build_object("name", ERASED, "line1", ERASED)).op("-")("line2")


async def _assert_nothing_open(conn: AsyncConnection, customer) -> None:
    open_orders = (await conn.execute(select(func.count()).select_from(orders).where(
        _theirs(orders, customer), orders.c.status.in_(OPEN_ORDER_STATUSES)))).scalar()
    live_subscriptions = (await conn.execute(select(func.count()).select_from(subscriptions).where(
        _theirs(subscriptions, customer), subscriptions.c.status != "cancelled"))).scalar()
    pending_checkouts = (await conn.execute(select(func.count()).select_from(checkouts).where(
        _theirs(checkouts, customer), checkouts.c.status == "pending"))).scalar()
    if open_orders or live_subscriptions or pending_checkouts:
        raise Conflict("the customer has open orders or active subscriptions: erase once they are finished or "
                       "cancelled", code="customer_has_open_orders",
                       details={"open_orders": open_orders, "active_subscriptions": live_subscriptions,
                                "pending_checkouts": pending_checkouts})
