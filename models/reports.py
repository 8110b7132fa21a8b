"""Sales, cart and fraud reports as pure aggregation over rows the queries return (no I/O, no clock).

Days are calendar days of the store's time zone (``REPORT_TIMEZONE``, UTC by default). Money stays in
integer minor units per currency, never summed across currencies. Rates are fractions (0.25 = 25 %),
rounded to 4 places, and None when undefined (0/0).

Sales are orders that brought money: a cancelled order and a no-charge exchange order (a replacement
sent for a return) are not revenue; cancelled orders are counted apart.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta

from pydantic import BaseModel, Field

from models.errors import DomainError

MAX_RANGE_DAYS = 366
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
CSV_COLUMNS = ["date", "currency", "orders", "revenue", "aov", "refunds", "carts_created", "carts_abandoned",
               "abandonment_rate", "conversion_rate", "cancelled"]


def check_range(start: date, end: date) -> None:
    """``start``..``end`` inclusive, at most MAX_RANGE_DAYS days; ``invalid_date_range`` (422) otherwise."""
    if start > end:
        raise DomainError("from must not be after to", code="invalid_date_range")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise DomainError(f"a report covers at most {MAX_RANGE_DAYS} days", code="invalid_date_range",
                          details={"days": (end - start).days + 1})


def month_bounds(month: str) -> tuple[date, date]:
    """``YYYY-MM`` -> (first day, first day of the next month); ``invalid_month`` (422) otherwise."""
    match = _MONTH.match(month)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
        raise DomainError("month must look like 2026-11", code="invalid_month")
    year, number = int(match.group(1)), int(match.group(2))
    start = date(year, number, 1)
    return start, date(year + number // 12, number % 12 + 1, 1)


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def average(amount: int, count: int) -> int | None:
    """Integer mean in minor units, halves rounded up; None for no orders."""
    return (2 * amount + count) // (2 * count) if count else None


class CurrencySales(BaseModel):
    currency: str
    orders: int = Field(0, description="Orders placed, neither cancelled nor no-charge exchanges")
    revenue: int = Field(0, description="Sum of those orders' totals, minor units")
    aov: int | None = Field(None, description="Average order value, minor units")
    refunds: int = Field(0, description="Refunded that day, minor units")
    cancelled: int = Field(0, description="Orders placed that day and cancelled since (not in revenue)")


class SalesDay(BaseModel):
    date: date
    orders: int = 0
    carts_created: int = 0
    carts_abandoned: int = Field(0, description="Created that day and not checked out (yet)")
    abandonment_rate: float | None = None
    conversion_rate: float | None = Field(None, description="Orders from carts that day / carts created that day")
    currencies: list[CurrencySales] = []


class CartRecovery(BaseModel):
    carts_reminded: int = Field(0, description="Carts whose first reminder went out in the period")
    carts_recovered: int = Field(0, description="... that were checked out after it")
    recovery_rate: float | None = None


class SalesReport(BaseModel):
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    days: list[SalesDay]
    totals: list[CurrencySales]
    recovery: CartRecovery


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def sales_report(start: date, end: date, *, orders: Iterable[tuple[date, str, int, int]],
                 refunds: Iterable[tuple[date, str, int]], carts: Iterable[tuple[date, int, int]],
                 cart_orders: Iterable[tuple[date, int]], reminded: int, recovered: int,
                 cancelled: Iterable[tuple[date, str, int]] = ()) -> SalesReport:
    """Assemble the report from query rows, every day of the range present.

    orders: (day, currency, count, revenue) of sales; refunds: (day, currency, amount); carts: (day, created,
    checked_out); cart_orders: (day, orders placed from carts); cancelled: (day, currency, count).
    """
    money: dict[date, dict[str, CurrencySales]] = defaultdict(dict)
    for day, currency, count, revenue in orders:
        money[day][currency] = CurrencySales(currency=currency, orders=count, revenue=revenue)
    for day, currency, count in cancelled:
        money[day].setdefault(currency, CurrencySales(currency=currency)).cancelled = count
    for day, currency, amount in refunds:
        row = money[day].setdefault(currency, CurrencySales(currency=currency))
        row.refunds += amount
    cart_counts = {day: (created, checked_out) for day, created, checked_out in carts}
    from_carts = dict(cart_orders)
    days, totals = [], {}
    for day in days_between(start, end):
        created, checked_out = cart_counts.get(day, (0, 0))
        currencies = sorted(money.get(day, {}).values(), key=lambda c: c.currency)
        for row in currencies:
            row.aov = average(row.revenue, row.orders)
            total = totals.setdefault(row.currency, CurrencySales(currency=row.currency))
            total.orders, total.revenue, total.refunds, total.cancelled = (
                total.orders + row.orders, total.revenue + row.revenue, total.refunds + row.refunds,
                total.cancelled + row.cancelled)
        days.append(SalesDay(
            date=day, orders=sum(c.orders for c in currencies), carts_created=created,
            carts_abandoned=created - checked_out, abandonment_rate=rate(created - checked_out, created),
            conversion_rate=rate(from_carts.get(day, 0), created), currencies=currencies,
        ))
    for total in totals.values():
        total.aov = average(total.revenue, total.orders)
    return SalesReport(start=start, end=end, days=days, totals=sorted(totals.values(), key=lambda c: c.currency),
                       recovery=CartRecovery(carts_reminded=reminded, carts_recovered=recovered,
                                             recovery_rate=rate(recovered, reminded)))


def sales_csv(report: SalesReport) -> str:
    """One row per (day, currency); a day without money still gets one row (empty currency)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for day in report.days:
        shared = [day.carts_created, day.carts_abandoned, _cell(day.abandonment_rate), _cell(day.conversion_rate)]
        for row in day.currencies or [None]:
            money = ([row.currency, row.orders, row.revenue, _cell(row.aov), row.refunds] if row
                     else ["", 0, 0, "", 0])
            writer.writerow([day.date.isoformat(), *money, *shared, row.cancelled if row else 0])
    return out.getvalue()


def csv_text(header: list[str], rows: Iterable[Iterable]) -> str:
    """A CSV document (CRLF lines, as RFC 4180 says); None cells are empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return out.getvalue()


def _cell(value) -> str:
    return "" if value is None else str(value)


class FraudReport(BaseModel):
    month: str
    orders: int
    disputes: int = Field(description="payment.disputed events received in the month")
    chargeback_rate: float | None = Field(description="disputes / orders of the month")
    screenings: dict[str, int] = Field(description="Checkouts screened in the month, by outcome")
    reviews: dict[str, int] = Field(description="Outcomes of the month's reviews: approved, rejected, timed_out")


def fraud_report(month: str, *, orders: int, disputes: int, screenings: Iterable[tuple[str, int]],
                 reviews: Iterable[tuple[str, int]]) -> FraudReport:
    by_outcome = {"approve": 0, "review": 0, "reject": 0} | dict(screenings)
    by_review = {"approved": 0, "rejected": 0, "timed_out": 0} | dict(reviews)
    return FraudReport(month=month, orders=orders, disputes=disputes, chargeback_rate=rate(disputes, orders),
                       screenings=by_outcome, reviews=by_review)
