"""The renewal and dunning schedules are pure functions of an anchor, an interval and a count."""

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from models.subscriptions import (
    ChangeRequest, Schedule, SubscriptionLine, SubscriptionPolicy, SubscriptionState, add_months, dunning_retry_at,
    next_period, next_renewal, renewal_at, renewal_date,
)
from models.commerce import Address


def monthly(anchor: date) -> Schedule:
    return Schedule(interval="monthly", anchor=anchor)


def test_monthly_anchor_on_the_31st_clamps_to_month_end_without_drifting():
    schedule = monthly(date(2025, 1, 31))
    dates = [renewal_date(schedule, k) for k in range(13)]
    assert dates[:5] == [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30),
                         date(2025, 5, 31)]
    assert dates[12] == date(2026, 1, 31)


def test_monthly_clamps_to_february_29_in_a_leap_year():
    assert renewal_date(monthly(date(2027, 12, 31)), 2) == date(2028, 2, 29)
    assert renewal_date(monthly(date(2028, 2, 29)), 12) == date(2029, 2, 28)


def test_monthly_crosses_years_both_ways():
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert add_months(date(2025, 3, 31), -1) == date(2025, 2, 28)


@pytest.mark.parametrize(("interval", "n", "step"), [("weekly", None, 7), ("every_n_days", 10, 10),
                                                     ("every_n_days", 1, 1)])
def test_day_based_intervals(interval, n, step):
    schedule = Schedule(interval=interval, every_n_days=n, anchor=date(2025, 12, 30))
    assert [renewal_date(schedule, k) for k in range(3)] == [date(2025, 12, 30) + timedelta(days=step * k)
                                                             for k in range(3)]


def test_renewals_are_at_midnight_utc():
    assert renewal_at(monthly(date(2025, 1, 31)), 1) == datetime(2025, 2, 28, tzinfo=UTC)


def test_every_n_days_needs_n_and_only_then():
    with pytest.raises(ValidationError):
        Schedule(interval="every_n_days", anchor=date(2025, 1, 1))
    with pytest.raises(ValidationError):
        Schedule(interval="weekly", every_n_days=3, anchor=date(2025, 1, 1))


@pytest.mark.parametrize(("today", "expected"), [
    (date(2025, 1, 15), 0),   # anchor still ahead
    (date(2025, 1, 31), 0),   # on the anchor itself
    (date(2025, 2, 1), 1),
    (date(2025, 2, 28), 1),   # the clamped date counts as on time
    (date(2025, 3, 1), 2),
    (date(2026, 2, 1), 13),
])
def test_next_period_is_the_first_renewal_today_or_later(today, expected):
    assert next_period(monthly(date(2025, 1, 31)), today) == expected


def test_next_period_never_goes_back():
    schedule = Schedule(interval="weekly", anchor=date(2025, 1, 1))
    assert next_period(schedule, date(2025, 1, 1), not_before=3) == 3
    assert next_period(schedule, date(2025, 3, 1), not_before=3) == 9  # 2025-03-05


def test_dunning_retries_count_from_the_first_failure_then_stop():
    first = datetime(2025, 5, 1, 0, 0, tzinfo=UTC)
    retries = [dunning_retry_at(first, [1, 3, 7], failures) for failures in (1, 2, 3, 4)]
    assert retries == [first + timedelta(days=1), first + timedelta(days=3), first + timedelta(days=7), None]
    assert dunning_retry_at(first, [], 1) is None


def test_dunning_schedule_must_increase():
    with pytest.raises(ValidationError):
        SubscriptionPolicy(dunning_retry_days=[3, 1])
    with pytest.raises(ValidationError):
        SubscriptionPolicy(dunning_retry_days=[0, 2])


def _state(**changes) -> SubscriptionState:
    state = SubscriptionState(
        subscription_id="sub_x", email="a@example.com", currency="USD", customer_ref="cus", payment_method="pm",
        shipping_address=Address(name="A", line1="1 Main", city="SF", postal_code="1", country="US"),
        lines=[SubscriptionLine(sku="S", quantity=1)], schedule=monthly(date(2025, 1, 31)), period=1,
    )
    return state.model_copy(update=changes)


def test_next_renewal_follows_pause_and_cancel():
    assert next_renewal(_state()) == datetime(2025, 2, 28, tzinfo=UTC)
    assert next_renewal(_state(status="paused")) is None
    assert next_renewal(_state(status="paused", paused_until=datetime(2025, 3, 15, tzinfo=UTC))) == \
        datetime(2025, 3, 31, tzinfo=UTC)
    assert next_renewal(_state(status="cancelled")) is None


def test_change_request_needs_something_consistent():
    with pytest.raises(ValidationError):
        ChangeRequest()
    with pytest.raises(ValidationError):
        ChangeRequest(interval="every_n_days")
    with pytest.raises(ValidationError):
        ChangeRequest(lines=[SubscriptionLine(sku="S", quantity=1), SubscriptionLine(sku="S", quantity=2)])
    assert ChangeRequest(interval="every_n_days", every_n_days=5).every_n_days == 5
