"""Subscriptions: the renewal schedule, dunning schedule and state carried between cycles (pure).

A schedule is an anchor date plus an interval; renewal ``k`` falls ``k`` intervals after the
anchor (monthly anchors past a month's end clamp to its last day, counted from the anchor so
Jan 31 → Feb 28 → Mar 31). Renewals happen at 00:00 UTC of their date.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.commerce import MAX_LINE_QUANTITY, Address, Frozen
from models.money import to_major
from models.notifications import EmailMessage

Interval = Literal["weekly", "monthly", "every_n_days"]
Status = Literal["active", "paused", "past_due", "cancelled"]
MAX_EVERY_N_DAYS = 365


class Schedule(Frozen):
    interval: Interval
    every_n_days: int | None = Field(None, ge=1, le=MAX_EVERY_N_DAYS)
    anchor: date

    @model_validator(mode="after")
    def _n_with_every_n_days(self) -> Schedule:
        if (self.interval == "every_n_days") != (self.every_n_days is not None):
            raise ValueError("every_n_days (n) is required for, and only for, interval every_n_days")
        return self


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the target month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def renewal_date(schedule: Schedule, period: int) -> date:
    """Date of renewal ``period`` (0 = the anchor itself)."""
    if schedule.interval == "monthly":
        return add_months(schedule.anchor, period)
    days = 7 if schedule.interval == "weekly" else schedule.every_n_days
    return schedule.anchor + timedelta(days=days * period)


def renewal_at(schedule: Schedule, period: int) -> datetime:
    return datetime.combine(renewal_date(schedule, period), time(0), tzinfo=UTC)


def next_period(schedule: Schedule, today: date, not_before: int = 0) -> int:
    """The first period ``>= not_before`` whose renewal date is today or later."""
    if schedule.interval == "monthly":
        guess = (today.year - schedule.anchor.year) * 12 + today.month - schedule.anchor.month - 1
    else:
        days = 7 if schedule.interval == "weekly" else schedule.every_n_days
        guess = (today - schedule.anchor).days // days - 1
    period = max(not_before, guess)
    while renewal_date(schedule, period) < today:
        period += 1
    return period


def dunning_retry_at(first_failure_at: datetime, retry_days: list[int], failures: int) -> datetime | None:
    """When to retry a renewal charge after ``failures`` failed attempts; None once retries are used up.

    ``retry_days`` count from the first failure: (1, 3, 7) retries on days 1, 3 and 7.
    """
    if failures < 1 or failures > len(retry_days):
        return None
    return first_failure_at + timedelta(days=retry_days[failures - 1])


class SubscriptionLine(Frozen):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=MAX_LINE_QUANTITY)


class SubscriptionPlan(Frozen):
    """What an admin offers: the intervals a subscriber may pick and the discount every renewal gets."""

    id: str
    name: str
    intervals: list[Interval]
    discount_bp: int = Field(ge=0, le=10_000)
    active: bool

    def refusal(self, interval: Interval) -> tuple[str, str] | None:
        """(code, message) when a subscription on ``interval`` may not join this plan, else None."""
        if not self.active:
            return "subscription_plan_inactive", f"plan {self.id} is no longer offered"
        if interval not in self.intervals:
            return "interval_not_in_plan", f"plan {self.id} offers {', '.join(self.intervals)}, not {interval}"
        return None


def check_lines(lines: list[SubscriptionLine]) -> list[SubscriptionLine]:
    if not lines:
        raise ValueError("a subscription needs at least one line")
    if len({line.sku for line in lines}) != len(lines):
        raise ValueError("each sku may appear once")
    return lines


class SubscriptionPolicy(Frozen):
    """What ops configure (Settings); fixed into the subscription when it starts."""

    dunning_retry_days: list[int] = Field(default_factory=lambda: [1, 3, 7])
    past_due_grace_days: int = Field(0, ge=0, description="past_due this long (a new card retries) before cancelling")
    out_of_stock: Literal["delay", "ship_available"] = "delay"
    out_of_stock_retry_days: int = Field(3, ge=0, description="delay mode: daily retries before skipping the cycle")
    reservation_ttl_seconds: int = Field(24 * 3600, gt=0)
    renewal_notice_days: int = Field(3, ge=0, description="Email the customer this long before a renewal; 0: never")

    @field_validator("dunning_retry_days")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if any(day <= 0 for day in value) or value != sorted(set(value)):
            raise ValueError("dunning retry days must be positive and strictly increasing")
        return value


class DunningState(Frozen):
    cycle: int
    failures: int
    last_error: str
    next_retry_at: datetime | None = None


class SubscriptionState(BaseModel):
    """Everything a subscription workflow run needs; carried whole through continue-as-new.

    ``period`` indexes the next renewal on ``schedule``; ``cycle`` numbers it (1 = first renewal)
    and keys its charge, stock hold and order. ``version`` grows with every change so the
    database copy is never overwritten by an older one.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    subscription_id: str
    email: str
    currency: str
    customer_ref: str
    payment_method: str
    payment_method_version: int = 0
    shipping_address: Address
    lines: list[SubscriptionLine]
    discount_bp: int = Field(0, ge=0, le=10_000)
    schedule: Schedule
    period: int = 0
    cycle: int = 1
    status: Status = "active"
    paused_until: datetime | None = None
    skip_next: bool = False
    cancel_at_period_end: bool = False
    cancel_reason: str | None = None
    version: int = 0
    policy: SubscriptionPolicy = Field(default_factory=SubscriptionPolicy)


class SubscriptionView(Frozen):
    """What the API shows (and the workflow records in PostgreSQL)."""

    subscription_id: str
    status: Status
    lines: list[SubscriptionLine]
    interval: Interval
    every_n_days: int | None
    payment_method: str
    customer_ref: str
    next_renewal_at: datetime | None
    cycle: int
    paused_until: datetime | None
    skip_next: bool
    cancel_at_period_end: bool
    cancel_reason: str | None
    dunning: DunningState | None
    version: int


def next_renewal(state: SubscriptionState) -> datetime | None:
    """When the next renewal is due, or None (cancelled, paused indefinitely)."""
    if state.status == "cancelled" or (state.status == "paused" and state.paused_until is None):
        return None
    due = renewal_at(state.schedule, state.period)
    if state.status == "paused" and due < state.paused_until:
        return renewal_at(state.schedule, next_period(state.schedule, state.paused_until.date(), state.period))
    return due


def view(state: SubscriptionState, dunning: DunningState | None = None) -> SubscriptionView:
    return SubscriptionView(
        subscription_id=state.subscription_id, status=state.status, lines=state.lines,
        interval=state.schedule.interval, every_n_days=state.schedule.every_n_days,
        payment_method=state.payment_method, customer_ref=state.customer_ref, next_renewal_at=next_renewal(state),
        cycle=state.cycle, paused_until=state.paused_until, skip_next=state.skip_next,
        cancel_at_period_end=state.cancel_at_period_end, cancel_reason=state.cancel_reason, dunning=dunning,
        version=state.version,
    )


# ---- requests the workflow accepts as updates
class PauseRequest(Frozen):
    until: date | None = Field(None, description="Resume automatically on this date; omit to pause indefinitely")


class ChangeRequest(Frozen):
    lines: list[SubscriptionLine] | None = None
    interval: Interval | None = None
    every_n_days: int | None = Field(None, ge=1, le=MAX_EVERY_N_DAYS)

    @field_validator("lines")
    @classmethod
    def _lines(cls, value: list[SubscriptionLine] | None) -> list[SubscriptionLine] | None:
        return None if value is None else check_lines(value)

    @model_validator(mode="after")
    def _something(self) -> ChangeRequest:
        if self.lines is None and self.interval is None:
            raise ValueError("change lines, interval or both")
        if self.interval is not None and (self.interval == "every_n_days") != (self.every_n_days is not None):
            raise ValueError("every_n_days (n) is required for, and only for, interval every_n_days")
        return self


class CancelRequest(Frozen):
    at_period_end: bool = False


class PaymentMethodRequest(Frozen):
    payment_method: str = Field(min_length=1, max_length=200)


class SubscriptionEvent(Frozen):
    """One line of a subscription's history; ``event_id`` is a business key (replays are no-ops)."""

    event_id: str
    type: str
    data: dict = Field(default_factory=dict)


class RenewalOrder(Frozen):
    """What the order-creation step needs beyond the checkout-shaped draft."""

    subscription_id: str
    cycle: int
    renewal_date: date
    payment_ref: str


# ---- customer email
def payment_failed_email(*, subscription_id: str, email: str, name: str | None, cycle: int, attempt: int,
                         amount: int | None, currency: str, next_retry_at: datetime | None,
                         decline_code: str | None = None) -> EmailMessage:
    charge = f" of {to_major(amount, currency)} {currency}" if amount is not None else ""
    if decline_code == "authentication_required":
        # Renewals are charged with nobody at the keyboard, so a bank that insists on 3-D Secure
        # declines every retry: only the customer, on a payment-method update, can get past it.
        reason = ("Your bank asked you to confirm this payment, which we cannot do while you are away. "
                  "Please update the payment method of your subscription (your bank may ask you to "
                  "confirm it) and we will retry right away.")
    else:
        reason = "To use another card, update the payment method of your subscription and we will retry right away."
    if next_retry_at is not None:
        outro = f"We will try again on {next_retry_at.date().isoformat()}. {reason}"
    else:
        outro = "This was our last attempt: your subscription is past due and will be cancelled."
    greeting = f"Hi {name}," if name else "Hello,"
    text = (f"{greeting}\n\nthe renewal payment{charge} for your subscription {subscription_id} was declined "
            f"(attempt {attempt}).\n\n{outro}\n")
    return EmailMessage(to=email, subject=f"Payment for subscription {subscription_id} failed", text=text,
                        idempotency_key=f"{subscription_id}:cycle-{cycle}:payment_failed:{attempt}")
