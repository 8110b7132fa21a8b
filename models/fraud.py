"""Fraud screening as a pure score: signals in, a 0–100 score, an outcome and its reasons out.

No I/O and no clock: the screening activity counts velocity in PostgreSQL and hands the counts in.
Points add up per signal and the sum is capped at 100:

- velocity: prior checkouts by the same email, card (payment method) or client IP in the last hour
  and day, at or over the policy's limits; capped at ``velocity_max_points`` so that, with the
  defaults, velocity alone stays below review and needs a second signal (a customer re-ordering is
  common; a stranger re-ordering fast with a foreign billing address is not);
- billing country differs from the shipping country (only when a billing address was given);
- a line in a high-risk category (configurable list);
- order value at or over the high / very high thresholds (minor units, whatever the currency).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from models.base import Frozen

Outcome = Literal["approve", "review", "reject"]
ReviewDecisionKind = Literal["approve", "reject"]
WINDOWS = ("hour", "day")
IDENTITIES = ("email", "card", "ip")


class FraudPolicy(Frozen):
    """Thresholds and weights; built from settings by the API and fixed into each checkout's input."""

    review_score: int = Field(50, ge=1, le=100, description="At or above: wait for a support decision")
    reject_score: int = Field(80, ge=1, le=100, description="At or above: decline the checkout")
    email_per_hour: int = Field(3, ge=1)
    email_per_day: int = Field(10, ge=1)
    card_per_hour: int = Field(3, ge=1)
    card_per_day: int = Field(10, ge=1)
    ip_per_hour: int = Field(10, ge=1)  # several shoppers may share an address (offices, mobile NAT)
    ip_per_day: int = Field(30, ge=1)
    velocity_hour_points: int = Field(15, ge=0)
    velocity_day_points: int = Field(10, ge=0)
    velocity_max_points: int = Field(30, ge=0)
    country_mismatch_points: int = Field(25, ge=0)
    high_risk_categories: tuple[str, ...] = ("gift-cards",)
    high_risk_category_points: int = Field(20, ge=0)
    high_value_amount: int = Field(100_000, ge=0)
    high_value_points: int = Field(15, ge=0)
    very_high_value_amount: int = Field(500_000, ge=0)
    very_high_value_points: int = Field(35, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> FraudPolicy:
        if self.review_score > self.reject_score:
            raise ValueError("review_score must not exceed reject_score")
        if self.high_value_amount > self.very_high_value_amount:
            raise ValueError("high_value_amount must not exceed very_high_value_amount")
        return self

    def limit(self, identity: str, window: str) -> int:
        return getattr(self, f"{identity}_per_{window}")


class Velocity(Frozen):
    """Prior checkouts (this one excluded) sharing an identity, per window; None: identity unknown."""

    email_hour: int = 0
    email_day: int = 0
    card_hour: int = 0
    card_day: int = 0
    ip_hour: int | None = None
    ip_day: int | None = None


class FraudSignals(Frozen):
    velocity: Velocity = Field(default_factory=Velocity)
    shipping_country: str
    billing_country: str | None = None
    categories: tuple[str, ...] = ()
    total: int = Field(ge=0)
    currency: str


class FraudAssessment(Frozen):
    score: int = Field(ge=0, le=100)
    outcome: Outcome
    reasons: tuple[str, ...] = ()


def outcome_for(score: int, policy: FraudPolicy) -> Outcome:
    if score >= policy.reject_score:
        return "reject"
    return "review" if score >= policy.review_score else "approve"


def _velocity_points(velocity: Velocity, policy: FraudPolicy) -> tuple[int, list[str]]:
    points, reasons = 0, []
    for identity in IDENTITIES:
        for window in WINDOWS:
            count = getattr(velocity, f"{identity}_{window}")
            if count is not None and count >= policy.limit(identity, window):
                points += policy.velocity_hour_points if window == "hour" else policy.velocity_day_points
                reasons.append(f"velocity:{identity}:{window}")
    return min(points, policy.velocity_max_points), reasons


def assess(signals: FraudSignals, policy: FraudPolicy) -> FraudAssessment:
    """Score the signals under ``policy``; reasons name every signal that added points."""
    score, reasons = _velocity_points(signals.velocity, policy)
    if signals.billing_country and signals.billing_country.upper() != signals.shipping_country.upper():
        score += policy.country_mismatch_points
        reasons.append("billing_shipping_mismatch")
    risky = sorted({c.lower() for c in signals.categories} & {c.lower() for c in policy.high_risk_categories})
    if risky:
        score += policy.high_risk_category_points
        reasons.extend(f"high_risk_category:{category}" for category in risky)
    if signals.total >= policy.very_high_value_amount:
        score += policy.very_high_value_points
        reasons.append("very_high_value")
    elif signals.total >= policy.high_value_amount:
        score += policy.high_value_points
        reasons.append("high_value")
    score = min(score, 100)
    return FraudAssessment(score=score, outcome=outcome_for(score, policy), reasons=tuple(reasons))


class ScreeningRequest(Frozen):
    """What the checkout workflow asks the screening activity about."""

    checkout_id: str
    email: str
    payment_method: str
    client_ip: str | None = None
    shipping_country: str
    billing_country: str | None = None
    skus: tuple[str, ...] = ()
    total: int
    currency: str
    policy: FraudPolicy


class ReviewDecision(Frozen):
    """Support's verdict on a checkout held for review (the ``review_decision`` update)."""

    decision: ReviewDecisionKind
    note: str = Field("", max_length=1000)
    reviewer: str | None = Field(None, max_length=200)
