"""Fraud screenings: the record of each checkout's score, and velocity counts read back from it."""

from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import fraud_screenings, products, variants
from models.fraud import FraudAssessment, Velocity

WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


async def velocity(conn: AsyncConnection, *, email: str, payment_method: str, client_ip: str | None,
                   now: datetime, exclude_checkout: str) -> Velocity:
    """Prior screenings sharing the email, card or IP in the last hour and day (this checkout excluded)."""
    columns = {"email": (fraud_screenings.c.email, email.lower()),
               "card": (fraud_screenings.c.payment_method, payment_method)}
    if client_ip:
        columns["ip"] = (fraud_screenings.c.client_ip, client_ip)
    counts = []
    for identity, (column, value) in columns.items():
        for window, span in WINDOWS.items():
            counts.append(func.count().filter(and_(column == value, fraud_screenings.c.created_at > now - span))
                          .label(f"{identity}_{window}"))
    row = (await conn.execute(
        select(*counts).where(and_(fraud_screenings.c.created_at > now - WINDOWS["day"],
                                   fraud_screenings.c.checkout_id != exclude_checkout))
    )).one()
    return Velocity(**row._asdict())


async def categories(conn: AsyncConnection, skus: list[str]) -> tuple[str, ...]:
    if not skus:
        return ()
    rows = await conn.execute(
        select(products.c.category).distinct().join(variants, variants.c.product_id == products.c.id)
        .where(and_(variants.c.sku.in_(skus), products.c.category.is_not(None)))
    )
    return tuple(sorted(rows.scalars()))


async def get(conn: AsyncConnection, checkout_id: str):
    return (await conn.execute(select(fraud_screenings).where(fraud_screenings.c.checkout_id == checkout_id))).first()


async def record(conn: AsyncConnection, *, checkout_id: str, email: str, payment_method: str, client_ip: str | None,
                 total: int, currency: str, assessment: FraudAssessment, now: datetime) -> FraudAssessment:
    """Store the screening; a repeat for the same checkout keeps (and returns) the first."""
    await conn.execute(
        insert(fraud_screenings).values(
            checkout_id=checkout_id, email=email.lower(), payment_method=payment_method, client_ip=client_ip,
            total=total, currency=currency, score=assessment.score, outcome=assessment.outcome,
            reasons=list(assessment.reasons), created_at=now,
        ).on_conflict_do_nothing(index_elements=["checkout_id"])
    )
    return as_assessment(await get(conn, checkout_id))


def as_assessment(row) -> FraudAssessment:
    return FraudAssessment(score=row.score, outcome=row.outcome, reasons=tuple(row.reasons))


async def record_review(conn: AsyncConnection, checkout_id: str, review: str, reviewer: str | None,
                        note: str) -> None:
    """Set the review outcome once (a retried activity changes nothing)."""
    await conn.execute(
        update(fraud_screenings)
        .where(and_(fraud_screenings.c.checkout_id == checkout_id, fraud_screenings.c.review.is_(None)))
        .values(review=review, reviewer=reviewer, review_note=note or None, reviewed_at=func.now())
    )
