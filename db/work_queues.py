"""The queries behind the work queues (models.work_queues): one SELECT per queue with the same five columns
(id, since, order_id, workflow_id, details), so counting and listing share it."""

from sqlalchemy import String, and_, cast, exists, func, literal, null, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import (
    checkouts, fraud_screenings, locations, low_stock_alerts, order_events, returns, shipment_items, shipments,
)

RETURN_STATUSES = {
    "returns_to_decide": ("requested",),
    "returns_to_receive": ("approved", "awaiting_return"),
    "returns_to_inspect": ("received",),
    # Stopped for a person: a step failed, a refund was refused, an exchange's price difference declined.
    "returns_needing_attention": ("needs_attention", "refund_failed", "exchange_payment_failed"),
}
OPEN_PARCEL = ("pending_pack", "packed", "label_purchased", "shipped", "in_transit")
# Parcel alerts that leave the order itself short (money not captured, or unknown): the order needs a person.
ORDER_LEVEL_PARCEL_ALERTS = ("capture_failed:%", "capture_unknown%")


def _columns(item_id, since, order_id, workflow_id, details):
    return (item_id.label("id"), since.label("since"), order_id.label("order_id"),
            workflow_id.label("workflow_id"), details.label("details"))


def _fraud_review():
    f = fraud_screenings.c
    return (select(*_columns(f.checkout_id, f.created_at, cast(null(), String), checkouts.c.workflow_id,
                             func.jsonb_build_object("score", f.score, "reasons", f.reasons, "total", f.total,
                                                     "currency", f.currency, "email", f.email)))
            .join(checkouts, checkouts.c.id == f.checkout_id)
            .where(and_(f.outcome == "review", f.review.is_(None), checkouts.c.status == "pending")))


def _returns(statuses):
    r = returns.c
    # Decisions wait since the request; receiving since approval; inspection since arrival.
    since = r.created_at if statuses == ("requested",) else r.updated_at
    return select(*_columns(r.id, since, r.order_id, r.workflow_id,
                            func.jsonb_build_object("lines", r.lines, "exchange", r.exchange, "status", r.status))
                  ).where(r.status.in_(statuses))


def _parcels_to_pack():
    s = shipments.c
    units = select(func.coalesce(func.sum(shipment_items.c.quantity), 0)).where(
        shipment_items.c.shipment_id == s.id).scalar_subquery()
    return (select(*_columns(s.id, s.created_at, s.order_id, s.workflow_id,
                             func.jsonb_build_object("location", locations.c.code, "units", units)))
            .join(locations, locations.c.id == s.location_id).where(s.status == "pending_pack"))


def _parcel_alerts():
    s = shipments.c
    return select(*_columns(s.id, s.updated_at, s.order_id, s.workflow_id,
                            func.jsonb_build_object("alert", s.alert, "status", s.status))
                  ).where(and_(s.alert.is_not(None), s.status.in_(OPEN_PARCEL)))


def _orders_needing_attention():
    """Orders with an ``order.alert`` (e.g. a cancel that could not void) or a parcel whose capture failed or is
    unknown, unless support marked the order resolved since (``order.alert_resolved``)."""
    alerts = order_events.alias("alerts")
    a, s = alerts.c, shipments.c
    order_alerts = select(a.order_id.label("order_id"), a.created_at.label("since"),
                          a.data["alert"].astext.label("alert")).where(
        and_(a.type == "order.alert", _not_resolved_since(a.order_id, a.created_at)))
    parcel = select(s.order_id.label("order_id"), s.updated_at.label("since"), s.alert.label("alert")).where(
        and_(or_(*[s.alert.like(pattern) for pattern in ORDER_LEVEL_PARCEL_ALERTS]),
             _not_resolved_since(s.order_id, s.updated_at)))
    both = order_alerts.union_all(parcel).subquery()
    return (select(*_columns(both.c.order_id, func.min(both.c.since), both.c.order_id,
                             func.concat("order-", both.c.order_id),
                             func.jsonb_build_object("alert", func.string_agg(both.c.alert, ", "))))
            .group_by(both.c.order_id))


def _not_resolved_since(order_id, since):
    return ~exists(select(literal(1)).select_from(order_events).where(and_(
        order_events.c.order_id == order_id, order_events.c.type == "order.alert_resolved",
        order_events.c.created_at >= since)))


def _low_stock():
    a = low_stock_alerts.c
    return select(*_columns(a.id, a.created_at, cast(null(), String), cast(null(), String),
                            func.jsonb_build_object("sku", a.sku, "atp", a.atp_at_alert,
                                                    "reorder_point", a.reorder_point))
                  ).where(a.resolved_at.is_(None))


def query(queue: str):
    if queue in RETURN_STATUSES:
        return _returns(RETURN_STATUSES[queue])
    return {"fraud_review": _fraud_review, "parcels_to_pack": _parcels_to_pack, "parcel_alerts": _parcel_alerts,
            "orders_needing_attention": _orders_needing_attention, "low_stock": _low_stock}[queue]()


async def summary(conn: AsyncConnection, queue: str) -> tuple[int, object]:
    """(count, oldest since) of one queue."""
    items = query(queue).subquery()
    return tuple((await conn.execute(select(func.count(), func.min(items.c.since)))).one())


async def items(conn: AsyncConnection, queue: str, limit: int) -> list[dict]:
    """The queue's items, oldest first."""
    listed = query(queue).subquery()
    rows = await conn.execute(select(listed).order_by(listed.c.since, listed.c.id).limit(limit))
    return [dict(row._mapping) for row in rows]
