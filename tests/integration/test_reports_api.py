"""Sales and fraud reports over HTTP, checked against orders, carts and refunds this module creates.

The module has its own database, so today's numbers are exactly what these tests made.
"""

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from db import orders as order_store
from db.tables import cart_reminders
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import cart_with, checkout_to_end
from tests.integration.checkout_helpers import delivered_order, refund

TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
async def sales(api, temporal_env, engine) -> dict:
    """Two USD orders (one delivered and refunded in part), one EUR order, an abandoned cart (reminded) and a
    reminded-then-recovered one."""
    location = await make_location(engine)
    usd, eur = (await make_sku(engine, price=1000, stock={location: 20}),
                await make_sku(engine, price=3000, currency="EUR", stock={location: 20}))
    first, _ = await delivered_order(api, temporal_env, engine, {1000: 1})  # captured, so refundable
    reminded_cart = await cart_with(api, {usd: 3})
    async with engine.begin() as conn:  # a reminder went out before this cart was checked out
        await conn.execute(cart_reminders.insert().values(cart_id=reminded_cart, reminder=1,
                                                          recipient="ada@example.com", message_id="<m@x>"))
    second = await checkout_to_end(api, temporal_env.client, reminded_cart)
    third = await checkout_to_end(api, temporal_env.client, await cart_with(api, {eur: 1}, currency="EUR"))
    abandoned = await cart_with(api, {usd: 1})
    async with engine.begin() as conn:
        await conn.execute(cart_reminders.insert().values(cart_id=abandoned, reminder=1,
                                                          recipient="ada@example.com", message_id="<n@x>"))
    orders = []
    for done in (first, second, third):
        assert done["status"] == "completed", done
        orders.append((await api.get(f"/orders/{done['order_id']}")).json())
    refunded = await refund(api, first["order_id"], {"amount": 250, "reason": "scratched"})
    assert refunded.status_code == 200, refunded.text
    return {"orders": orders, "carts": 4, "checked_out": 3}


async def test_sales_report_for_today(api, sales):
    response = await api.get("/reports/sales", params={"from": TODAY.isoformat(), "to": TODAY.isoformat()})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["from"], report["to"]) == (TODAY.isoformat(), TODAY.isoformat())
    (day,) = report["days"]
    usd_orders = [o for o in sales["orders"] if o["currency"] == "USD"]
    eur_orders = [o for o in sales["orders"] if o["currency"] == "EUR"]
    usd_revenue, eur_revenue = sum(o["totals"]["total"] for o in usd_orders), sum(o["totals"]["total"] for o in eur_orders)
    assert day["orders"] == 3
    assert day["currencies"] == [
        {"currency": "EUR", "orders": 1, "revenue": eur_revenue, "aov": eur_revenue, "refunds": 0, "cancelled": 0},
        {"currency": "USD", "orders": 2, "revenue": usd_revenue, "aov": (usd_revenue + 1) // 2, "refunds": 250,
         "cancelled": 0},
    ]
    assert (day["carts_created"], day["carts_abandoned"]) == (4, 1)
    assert (day["abandonment_rate"], day["conversion_rate"]) == (0.25, 0.75)
    assert report["totals"] == day["currencies"]
    assert report["recovery"] == {"carts_reminded": 2, "carts_recovered": 1, "recovery_rate": 0.5}


async def test_days_without_activity_are_listed_empty(api, sales):
    start = TODAY - timedelta(days=2)
    report = (await api.get("/reports/sales", params={"from": start.isoformat(), "to": TODAY.isoformat()})).json()
    assert [d["date"] for d in report["days"]] == [(start + timedelta(days=n)).isoformat() for n in range(3)]
    assert report["days"][0] == {"date": start.isoformat(), "orders": 0, "carts_created": 0, "carts_abandoned": 0,
                                 "abandonment_rate": None, "conversion_rate": None, "currencies": []}


async def test_csv_export_parses_and_matches_the_json(api, sales):
    params = {"from": (TODAY - timedelta(days=1)).isoformat(), "to": TODAY.isoformat()}
    response = await api.get("/reports/sales", params={**params, "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["date"], r["currency"]) for r in rows] == [
        ((TODAY - timedelta(days=1)).isoformat(), ""), (TODAY.isoformat(), "EUR"), (TODAY.isoformat(), "USD")]
    usd = rows[2]
    usd_total = sum(o["totals"]["total"] for o in sales["orders"] if o["currency"] == "USD")
    assert (int(usd["orders"]), int(usd["revenue"]), int(usd["refunds"]), usd["conversion_rate"]) == (
        2, usd_total, 250, "0.75")


@pytest.mark.parametrize("params", [
    {"from": "2026-03-02", "to": "2026-03-01"},  # backwards
    {"from": "2024-01-01", "to": "2025-01-01"},  # 367 days
    {"from": "2026-02-30", "to": "2026-03-01"},  # no such day
    {"from": "yesterday", "to": "2026-03-01"},
    {"to": "2026-03-01"},
])
async def test_bad_ranges_are_422(api, params):
    response = await api.get("/reports/sales", params=params)
    assert response.status_code == 422, response.text


async def test_reports_are_for_ops(api_as):
    params = {"from": TODAY.isoformat(), "to": TODAY.isoformat()}
    assert (await api_as("support").get("/reports/sales", params=params)).status_code == 403
    assert (await api_as("ops").get("/reports/sales", params=params)).status_code == 200
    assert (await api_as("ops").get("/reports/fraud", params={"month": "2026-01"})).status_code == 200


async def test_fraud_report_chargeback_rate(api, sales, engine):
    order_id = sales["orders"][0]["id"]
    async with engine.begin() as conn:
        await order_store.append_event(conn, order_id, f"dp_{uuid.uuid4().hex[:8]}:opened", "payment.disputed",
                                       data={"reason": "fraudulent"})
    month = TODAY.strftime("%Y-%m")
    report = (await api.get("/reports/fraud", params={"month": month})).json()
    assert (report["month"], report["orders"], report["disputes"]) == (month, 3, 1)
    assert report["chargeback_rate"] == round(1 / 3, 4)
    assert report["screenings"] == {"approve": 3, "review": 0, "reject": 0}
    assert report["reviews"] == {"approved": 0, "rejected": 0, "timed_out": 0}

    last_year = date(TODAY.year - 1, TODAY.month, 1).strftime("%Y-%m")
    empty = (await api.get("/reports/fraud", params={"month": last_year})).json()
    assert (empty["orders"], empty["disputes"], empty["chargeback_rate"]) == (0, 0, None)
    for bad in ("2026-13", "2026-1", ""):
        assert (await api.get("/reports/fraud", params={"month": bad})).status_code == 422


def _today() -> dict:
    return {"from": TODAY.isoformat(), "to": TODAY.isoformat()}


async def test_payment_health_from_the_ledger(api, sales):
    report = (await api.get("/reports/payments", params=_today())).json()
    delivered_total = sales["orders"][0]["totals"]["total"]
    assert (report["authorizations_attempted"], report["authorizations_succeeded"]) == (3, 3)
    assert (report["authorization_rate"], report["decline_codes"]) == (1.0, {})
    assert report["currencies"] == [{"currency": "USD", "captured": delivered_total, "refunded": 250,
                                     "refund_rate": round(250 / delivered_total, 4)}]


async def test_fulfilment_times_and_label_cost(api, sales, engine):
    report = (await api.get("/reports/fulfilment", params=_today())).json()
    assert report["parcels"] >= 1  # the later orders' parcels appear as their workflows route them
    assert report["time_to_pack"]["count"] == report["time_to_ship"]["count"] == 1  # only the delivered one
    assert 0 <= report["time_to_pack"]["average_seconds"] <= report["time_to_ship"]["average_seconds"]
    (usd,) = report["label_cost"]
    assert (usd["currency"], usd["orders"]) == ("USD", 1) and usd["per_order"] == usd["label_cost"] > 0


async def test_returns_report_and_csv_by_accept_header(api, sales):
    report = (await api.get("/reports/returns", params=_today())).json()
    assert (report["orders"], report["orders_returned"], report["return_rate"]) == (3, 0, 0.0)
    response = await api.get("/reports/returns", params=_today(), headers={"Accept": "text/csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {"metric": "orders", "key": "", "value": "3"} in rows


async def test_inventory_report_values_stock_and_lists_low_skus(api, sales, engine):
    location = await make_location(engine)
    sku = await make_sku(engine, price=250, currency="GBP", stock={location: 4})
    assert (await api.patch(f"/admin/inventory/{sku}", json={"reorder_point": 4})).status_code == 204
    report = (await api.get("/reports/inventory")).json()
    assert {"currency": "GBP", "retail_value": 1000} in report["value"]  # the module's only GBP stock
    assert {"sku": sku, "atp": 4, "reorder_point": 4} in report["below_reorder_point"]
    csv_rows = list(csv.DictReader(io.StringIO((await api.get("/reports/inventory?format=csv")).text)))
    assert {"metric": "retail_value", "key": "GBP", "value": "1000"} in csv_rows
