"""Fraud screening: velocity and categories from PostgreSQL, the score from models.fraud."""

from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from db import fraud as store
from models.fraud import FraudAssessment, FraudSignals, ScreeningRequest, assess

log = structlog.get_logger("orderflow.activities")


class FraudActivities:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    @activity.defn
    async def screen_checkout(self, request: ScreeningRequest) -> FraudAssessment:
        """Score the checkout and record it; a retry returns the recorded assessment."""
        async with self.engine.begin() as conn:
            return await screen(conn, request, datetime.now(UTC))

    @activity.defn
    async def record_fraud_review(self, checkout_id: str, review: str, reviewer: str | None, note: str) -> None:
        """approved | rejected | timed_out, once."""
        async with self.engine.begin() as conn:
            await store.record_review(conn, checkout_id, review, reviewer, note)
        log.info("fraud review recorded", checkout_id=checkout_id, review=review, reviewer=reviewer)


async def screen(conn, request: ScreeningRequest, now: datetime) -> FraudAssessment:
    """Score the checkout and record it, once: a checkout already screened gets its recorded assessment."""
    known = await store.get(conn, request.checkout_id)
    if known is not None:
        return store.as_assessment(known)
    velocity = await store.velocity(conn, email=request.email, payment_method=request.payment_method,
                                    client_ip=request.client_ip, now=now, exclude_checkout=request.checkout_id)
    signals = FraudSignals(velocity=velocity, shipping_country=request.shipping_country,
                           billing_country=request.billing_country,
                           categories=await store.categories(conn, list(request.skus)),
                           total=request.total, currency=request.currency)
    assessment = await store.record(
        conn, checkout_id=request.checkout_id, email=request.email, payment_method=request.payment_method,
        client_ip=request.client_ip, total=request.total, currency=request.currency,
        assessment=assess(signals, request.policy), now=now)
    log.info("checkout screened", checkout_id=request.checkout_id, score=assessment.score,
             outcome=assessment.outcome, reasons=list(assessment.reasons))
    return assessment
