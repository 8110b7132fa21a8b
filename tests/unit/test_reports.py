"""Report aggregation without a database: days filled, money per currency, rates, CSV, date checks."""

import csv
import io
from datetime import date

import pytest

from models.errors import DomainError
from models.reports import (
    CSV_COLUMNS, average, check_range, fraud_report, month_bounds, rate, sales_csv, sales_report,
)

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)


def report():
    return sales_report(
        D1, D3,
        orders=[(D1, "USD", 2, 3001), (D1, "EUR", 1, 1000), (D3, "USD", 1, 500)],
        refunds=[(D1, "USD", 200), (D2, "EUR", 300)],
        carts=[(D1, 4, 3), (D3, 2, 0)],
        cart_orders=[(D1, 3), (D3, 1)],
        reminded=4, recovered=1, cancelled=[(D1, "USD", 1)],
    )


def test_every_day_of_the_range_is_present_in_order():
    assert [day.date for day in report().days] == [D1, D2, D3]


def test_money_is_kept_per_currency_with_aov_and_refunds():
    first = report().days[0]
    assert first.orders == 3
    usd, eur = first.currencies[1], first.currencies[0]
    assert (usd.currency, usd.orders, usd.revenue, usd.aov, usd.refunds) == ("USD", 2, 3001, 1501, 200)
    assert (eur.currency, eur.orders, eur.revenue, eur.aov, eur.refunds) == ("EUR", 1, 1000, 1000, 0)


def test_refunds_on_a_day_without_orders_still_show():
    second = report().days[1]
    assert second.orders == 0
    assert [(c.currency, c.orders, c.aov, c.refunds) for c in second.currencies] == [("EUR", 0, None, 300)]


def test_cart_rates():
    first, second, third = report().days
    assert (first.carts_created, first.carts_abandoned, first.abandonment_rate, first.conversion_rate) == (
        4, 1, 0.25, 0.75)
    assert (second.abandonment_rate, second.conversion_rate) == (None, None)  # no carts: undefined, not 0
    assert (third.carts_abandoned, third.abandonment_rate, third.conversion_rate) == (2, 1.0, 0.5)


def test_totals_and_recovery():
    built = report()
    assert [(t.currency, t.orders, t.revenue, t.aov, t.refunds, t.cancelled) for t in built.totals] == [
        ("EUR", 1, 1000, 1000, 300, 0), ("USD", 3, 3501, 1167, 200, 1)]
    assert built.recovery.model_dump() == {"carts_reminded": 4, "carts_recovered": 1, "recovery_rate": 0.25}


def test_json_uses_from_and_to():
    dumped = report().model_dump(mode="json", by_alias=True)
    assert (dumped["from"], dumped["to"]) == ("2026-03-01", "2026-03-03")


def test_csv_has_a_row_per_day_and_currency():
    rows = list(csv.DictReader(io.StringIO(sales_csv(report()))))
    assert list(rows[0]) == CSV_COLUMNS
    assert [(r["date"], r["currency"]) for r in rows] == [
        ("2026-03-01", "EUR"), ("2026-03-01", "USD"), ("2026-03-02", "EUR"), ("2026-03-03", "USD")]
    assert rows[1] == {"date": "2026-03-01", "currency": "USD", "orders": "2", "revenue": "3001", "aov": "1501",
                            "refunds": "200", "carts_created": "4", "carts_abandoned": "1",
                            "abandonment_rate": "0.25", "conversion_rate": "0.75", "cancelled": "1"}
    assert rows[2]["aov"] == "" and rows[2]["abandonment_rate"] == ""


def test_csv_day_without_money_gets_an_empty_currency_row():
    empty = sales_report(D1, D1, orders=[], refunds=[], carts=[(D1, 1, 0)], cart_orders=[], reminded=0,
                         recovered=0)
    (row,) = list(csv.DictReader(io.StringIO(sales_csv(empty))))
    assert (row["currency"], row["orders"], row["carts_abandoned"]) == ("", "0", "1")
    assert empty.recovery.recovery_rate is None


def test_rate_and_average_rounding():
    assert rate(1, 3) == 0.3333 and rate(0, 0) is None and rate(0, 5) == 0.0
    assert average(5, 2) == 3 and average(4, 3) == 1 and average(0, 0) is None


@pytest.mark.parametrize(("start", "end"), [(date(2026, 1, 1), date(2026, 1, 1)),
                                            (date(2024, 1, 1), date(2024, 12, 31))])  # 366 days: leap year
def test_valid_ranges(start, end):
    check_range(start, end)


@pytest.mark.parametrize(("start", "end"), [(date(2026, 1, 2), date(2026, 1, 1)),
                                            (date(2024, 1, 1), date(2025, 1, 1))])
def test_invalid_ranges(start, end):
    with pytest.raises(DomainError) as refused:
        check_range(start, end)
    assert refused.value.code == "invalid_date_range"


def test_month_bounds():
    assert month_bounds("2026-02") == (date(2026, 2, 1), date(2026, 3, 1))
    assert month_bounds("2026-12") == (date(2026, 12, 1), date(2027, 1, 1))
    for bad in ("2026-13", "2026-00", "2026-1", "26-01", "2026/01", "0000-01"):
        with pytest.raises(DomainError):
            month_bounds(bad)


def test_fraud_report_fills_every_outcome():
    built = fraud_report("2026-03", orders=200, disputes=3, screenings=[("approve", 190), ("review", 10)],
                         reviews=[("approved", 7)])
    assert built.chargeback_rate == 0.015
    assert built.screenings == {"approve": 190, "review": 10, "reject": 0}
    assert built.reviews == {"approved": 7, "rejected": 0, "timed_out": 0}
    assert fraud_report("2026-04", orders=0, disputes=0, screenings=[], reviews=[]).chargeback_rate is None
