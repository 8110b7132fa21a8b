"""Payment health, fulfilment, returns and inventory reports, and bulk counts, without a database."""

import csv
import io
from datetime import date

from models.inventory import StockLevel
from models.operations_reports import durations, label_costs, payment_health, returns_report
from models.reports import csv_text
from models.stock_admin import inventory_report, parse_counts, stock_rows

D1, D2 = date(2026, 3, 1), date(2026, 3, 31)


def test_payment_health_rates_and_decline_codes():
    health = payment_health(D1, D2, [
        ("authorize", "succeeded", None, "USD", 8, 80_000), ("authorize", "failed", "card_declined", "USD", 1, 500),
        ("charge", "failed", "insufficient_funds", "EUR", 1, 900), ("authorize", "pending", None, "USD", 3, 300),
        ("capture", "succeeded", None, "USD", 6, 60_000), ("charge", "succeeded", None, "EUR", 2, 4_000),
        ("refund", "succeeded", None, "USD", 2, 6_000), ("refund", "failed", "charge_disputed", "USD", 1, 10),
        ("void", "succeeded", None, "USD", 2, 20_000),
    ])
    # 8 holds and 2 charges approved, 1 of each refused; pending ones are not answered yet
    assert (health.authorizations_attempted, health.authorizations_succeeded) == (12, 10)
    assert (health.authorization_rate, health.pending) == (0.8333, 3)
    assert health.decline_codes == {"card_declined": 1, "insufficient_funds": 1}  # refund refusals are no declines
    assert [(m.currency, m.captured, m.refunded, m.refund_rate) for m in health.currencies] == [
        ("EUR", 4_000, 0, 0.0), ("USD", 60_000, 6_000, 0.1)]


def test_payment_health_of_a_quiet_period_has_no_rates():
    health = payment_health(D1, D2, [])
    assert (health.authorization_rate, health.decline_codes, health.currencies) == (None, {}, [])


def test_durations_round_to_seconds_and_label_cost_per_order():
    assert durations(3, 100.4, 99.5).model_dump() == {"count": 3, "average_seconds": 100, "median_seconds": 100}
    assert durations(0, None, None).average_seconds is None
    (usd,) = label_costs([("USD", 3, 1000)])
    assert (usd.orders, usd.label_cost, usd.per_order) == (3, 1000, 333)


def test_returns_report_counts_units_by_reason():
    report = returns_report(D1, D2, orders=20, orders_returned=3, returns=[
        ("requested", [{"sku": "A", "quantity": 2, "reason": "too_small"}]),
        ("refunded", [{"sku": "B", "quantity": 1, "reason": "defective"}, {"sku": "A", "quantity": 1,
                                                                           "reason": "too_small"}]),
        ("rejected", [{"sku": "C", "quantity": 1}]),
    ])
    assert (report.return_rate, report.returns_requested) == (0.15, 3)
    assert report.units_by_reason == {"too_small": 3, "defective": 1, "unspecified": 1}
    assert report.returns_by_status == {"refunded": 1, "rejected": 1, "requested": 1}
    header, rows = report.csv_rows()
    parsed = list(csv.DictReader(io.StringIO(csv_text(header, rows))))
    assert {"metric": "return_rate", "key": "", "value": "0.15"} in parsed


def _rows():
    return stock_rows([
        (StockLevel("TEE", "loc_a", on_hand=5, reserved=2, safety_stock=1), "east", 5),
        (StockLevel("TEE", "loc_b", on_hand=3, reserved=0), "west", 5),
        (StockLevel("MUG", "loc_a", on_hand=40, reserved=0), "east", 10),
        (StockLevel("CAP", "loc_a", on_hand=0, reserved=0), "east", 0),
    ])


def test_stock_rows_flag_every_row_of_a_sku_at_or_below_its_reorder_point():
    rows = _rows()
    assert [(r.sku, r.location, r.atp, r.sku_atp, r.below_reorder_point) for r in rows] == [
        ("CAP", "east", 0, 0, False),  # reorder point 0: alerts off
        ("MUG", "east", 40, 40, False),
        ("TEE", "east", 2, 5, True), ("TEE", "west", 3, 5, True),  # 2 + 3 = 5, at the reorder point
    ]


def test_inventory_report_values_stock_at_base_price_per_currency():
    report = inventory_report(_rows(), [("TEE", "USD", 2000), ("MUG", "USD", 1000), ("MUG", "EUR", 900)])
    assert (report.skus, report.units_on_hand) == (3, 48)
    assert [(v.currency, v.retail_value) for v in report.value] == [("EUR", 36_000), ("USD", 56_000)]
    assert [(low.sku, low.atp, low.reorder_point) for low in report.below_reorder_point] == [("TEE", 5, 5)]


def test_parse_counts_reports_each_bad_row_and_keeps_the_good_ones():
    lines, problems = parse_counts("sku,location,on_hand,reorder_point\nTEE,east,7,3\nMUG,east,-1,\n,east,2,\n"
                                   "CAP,west,4,\n")
    assert [(line.row, line.sku, line.on_hand, line.reorder_point) for line in lines] == [
        (1, "TEE", 7, 3), (4, "CAP", 4, None)]
    assert [(p.row, p.code) for p in problems] == [(2, "invalid_row"), (3, "invalid_row")]
    _, header_problem = parse_counts("sku,on_hand\nTEE,1\n")
    assert [(p.row, p.code) for p in header_problem] == [(0, "missing_columns")]
