"""Rows the ops tests need that no API makes directly."""

import uuid
from datetime import UTC, datetime, timedelta

from db.tables import checkouts, fraud_screenings
from models.ids import public_id


async def make_fraud_hold(engine, waited: timedelta, *, total: int = 90_000, score: int = 65,
                          reasons: tuple[str, ...] = ()) -> str:
    """A pending checkout held for fraud review ``waited`` ago (what the checkout workflow records); its id."""
    checkout_id = public_id("checkout")
    async with engine.begin() as conn:
        await conn.execute(checkouts.insert().values(
            id=checkout_id, idempotency_key=str(uuid.uuid4()), request_hash="x", cart_id=public_id("cart"),
            email="risky@example.com", order_id=public_id("order"), workflow_id=f"checkout-{checkout_id}"))
        await conn.execute(fraud_screenings.insert().values(
            checkout_id=checkout_id, email="risky@example.com", payment_method="pm_card_visa", total=total,
            currency="USD", score=score, outcome="review", reasons=list(reasons),
            created_at=datetime.now(UTC) - waited))
    return checkout_id
