"""The fraud score: each signal's points, the velocity cap, thresholds and the policy's own checks."""

import pytest
from pydantic import ValidationError

from models.fraud import FraudPolicy, FraudSignals, Velocity, assess, outcome_for

POLICY = FraudPolicy()


def signals(**overrides) -> FraudSignals:
    return FraudSignals(**{"shipping_country": "US", "total": 5_000, "currency": "USD", **overrides})


def test_an_ordinary_order_scores_zero_and_is_approved():
    assert assess(signals(), POLICY).model_dump() == {"score": 0, "outcome": "approve", "reasons": ()}


def test_billing_country_differing_from_shipping_adds_points():
    mismatch = assess(signals(billing_country="NG"), POLICY)
    assert (mismatch.score, mismatch.reasons) == (25, ("billing_shipping_mismatch",))
    assert assess(signals(billing_country="us"), POLICY).score == 0  # same country, any case
    assert assess(signals(billing_country=None), POLICY).score == 0  # no billing address: no signal


def test_high_risk_categories_count_once_whatever_the_case():
    risky = assess(signals(categories=("Gift-Cards", "apparel")), POLICY)
    assert (risky.score, risky.reasons) == (20, ("high_risk_category:gift-cards",))
    custom = FraudPolicy(high_risk_categories=("electronics", "gift-cards"))
    both = assess(signals(categories=("electronics", "gift-cards")), custom)
    assert both.score == 20 and len(both.reasons) == 2


@pytest.mark.parametrize(("total", "points", "reason"), [
    (99_999, 0, None), (100_000, 15, "high_value"), (499_999, 15, "high_value"), (500_000, 35, "very_high_value"),
])
def test_order_value_thresholds(total, points, reason):
    result = assess(signals(total=total), POLICY)
    assert result.score == points
    assert result.reasons == ((reason,) if reason else ())


def test_velocity_counts_at_the_limit_per_identity_and_window():
    below = Velocity(email_hour=2, email_day=9, card_hour=2, card_day=9, ip_hour=9, ip_day=29)
    assert assess(signals(velocity=below), POLICY).score == 0
    at_hour = assess(signals(velocity=Velocity(email_hour=3, email_day=3)), POLICY)
    assert (at_hour.score, at_hour.reasons) == (15, ("velocity:email:hour",))
    ip_day = assess(signals(velocity=Velocity(ip_day=30)), POLICY)
    assert (ip_day.score, ip_day.reasons) == (10, ("velocity:ip:day",))


def test_velocity_alone_is_capped_below_review_by_default():
    flood = Velocity(email_hour=50, email_day=50, card_hour=50, card_day=50, ip_hour=50, ip_day=50)
    result = assess(signals(velocity=flood), POLICY)
    assert result.score == 30 and result.outcome == "approve"
    assert len(result.reasons) == 6  # every signal is still named
    assert assess(signals(velocity=flood, billing_country="GB"), POLICY).outcome == "review"


def test_unknown_ip_is_no_signal():
    assert assess(signals(velocity=Velocity(ip_hour=None, ip_day=None)), POLICY).score == 0


def test_signals_add_up_to_review_and_reject_and_cap_at_100():
    review = assess(signals(billing_country="GB", categories=("gift-cards",), total=100_000), POLICY)
    assert (review.score, review.outcome) == (60, "review")
    flood = Velocity(email_hour=9, email_day=99, card_hour=9, card_day=99, ip_hour=99, ip_day=99)
    reject = assess(signals(billing_country="GB", categories=("gift-cards",), total=900_000, velocity=flood), POLICY)
    assert (reject.score, reject.outcome) == (100, "reject")


@pytest.mark.parametrize(("score", "outcome"), [(0, "approve"), (49, "approve"), (50, "review"), (79, "review"),
                                                (80, "reject"), (100, "reject")])
def test_thresholds(score, outcome):
    assert outcome_for(score, POLICY) == outcome


def test_thresholds_are_configurable():
    strict = FraudPolicy(review_score=20, reject_score=40)
    assert assess(signals(billing_country="GB"), strict).outcome == "review"
    assert assess(signals(billing_country="GB", categories=("gift-cards",)), strict).outcome == "reject"


def test_policy_refuses_crossed_thresholds():
    with pytest.raises(ValidationError):
        FraudPolicy(review_score=90, reject_score=80)
    with pytest.raises(ValidationError):
        FraudPolicy(high_value_amount=10, very_high_value_amount=5)


def test_policy_round_trips_as_json():
    policy = FraudPolicy(high_risk_categories=("a", "b"))
    assert FraudPolicy.model_validate_json(policy.model_dump_json()) == policy
