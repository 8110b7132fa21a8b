"""What the ops alert digest has to say and what it already said (tables ops_alert_digests, ops_alert_notices)."""

from datetime import datetime, timedelta

from sqlalchemy import and_, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import (
    checkouts, fraud_screenings, low_stock_alerts, ops_alert_digests, ops_alert_notices, returns, shipments,
)
from db.work_queues import OPEN_PARCEL
from models.ops_alerts import AlertItem


def _parcel_alerts():
    s = shipments.c
    return select(literal("parcel_alert"), func.concat(s.id, ":", s.alert),
                  func.concat("parcel ", s.id, " of order ", s.order_id, ": ", s.alert), s.updated_at).where(
        and_(s.alert.is_not(None), s.status.in_(OPEN_PARCEL)))


def _fraud_reviews(waiting_since: datetime):
    f = fraud_screenings.c
    return (select(literal("fraud_review_waiting"), f.checkout_id,
                   func.concat("checkout ", f.checkout_id, " (", f.total, " ", f.currency, ", score ", f.score,
                               ") waits for a fraud review"), f.created_at)
            .join(checkouts, checkouts.c.id == f.checkout_id)
            .where(and_(f.outcome == "review", f.review.is_(None), checkouts.c.status == "pending",
                        f.created_at <= waiting_since)))


def _return_decisions(requested_before: datetime):
    r = returns.c
    return select(literal("return_decision_expiring"), r.id,
                  func.concat("return ", r.id, " of order ", r.order_id, " expires undecided soon"), r.created_at
                  ).where(and_(r.status == "requested", r.created_at <= requested_before))


def _low_stock():
    a = low_stock_alerts.c
    return select(literal("low_stock"), a.id, func.concat(a.sku, ": ", a.atp_at_alert, " available, reorder point ",
                                                          a.reorder_point), a.created_at).where(a.resolved_at.is_(None))


async def unnoticed(conn: AsyncConnection, *, now: datetime, fraud_wait: timedelta,
                    return_warning_after: timedelta | None = None) -> list[AlertItem]:
    """Everything alert-worthy that no sent digest has carried yet, oldest first within each kind. Items of a
    digest that gave up unsent come again (the Schedule never overlaps runs, so that digest is over)."""
    parts = [_fraud_reviews(now - fraud_wait), _low_stock()]
    if return_warning_after is not None:  # requests older than this expire within the warning window
        parts.append(_return_decisions(now - return_warning_after))
    every = _parcel_alerts().union_all(*parts).subquery()
    kind, key, summary, since = every.c
    noticed = (select(ops_alert_notices.c.kind, ops_alert_notices.c.key)
               .join(ops_alert_digests, ops_alert_digests.c.id == ops_alert_notices.c.digest_id)
               .where(ops_alert_digests.c.sent_at.is_not(None)))
    rows = await conn.execute(select(kind, key, summary, since).where(tuple_(kind, key).not_in(noticed))
                              .order_by(kind, since, key))
    return [AlertItem(kind=row[0], key=row[1], summary=row[2], since=row[3]) for row in rows]


async def digest(conn: AsyncConnection, digest_id: str):
    return (await conn.execute(select(ops_alert_digests).where(ops_alert_digests.c.id == digest_id)
                               .with_for_update())).first()


async def claim(conn: AsyncConnection, digest_id: str, items: list[AlertItem]) -> None:
    """The digest and its items, noticed (taking over items of a digest that never went out)."""
    await conn.execute(ops_alert_digests.insert().values(id=digest_id,
                                                         items=[item.model_dump(mode="json") for item in items]))
    claimed = insert(ops_alert_notices)
    await conn.execute(claimed.on_conflict_do_update(index_elements=["kind", "key"],
                                                     set_={"digest_id": claimed.excluded.digest_id}),
                       [{"kind": i.kind, "key": i.key, "digest_id": digest_id} for i in items])


async def mark_sent(conn: AsyncConnection, digest_id: str, message_id: str) -> None:
    await conn.execute(update(ops_alert_digests).where(ops_alert_digests.c.id == digest_id)
                       .values(sent_at=func.now(), message_id=message_id))
