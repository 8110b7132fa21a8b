"""Ops pages of the console: the stock list with reorder point and safety stock edits, the audit log, the sales
report with its revenue chart."""

import re
import uuid
from datetime import UTC, datetime

import pytest

from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import placed_order
from tests.integration.console_helpers import act, flash_of, signed_in


@pytest.fixture(scope="module")
async def ops(api_app, role_keys):
    return await signed_in(api_app, role_keys["ops"])


async def test_ops_sets_a_reorder_point_and_safety_stock_and_the_sku_shows_as_low(ops, api, engine):
    location = f"loc-{uuid.uuid4().hex[:8]}"
    sku = await make_sku(engine, stock={await make_location(engine, location): 8})
    page = f"/console/inventory?location={location}"
    listed = await ops.get(page)
    assert f'id="{sku}@{location}"' in listed.text

    reorder = await act(ops, f"/console/inventory/{sku}/reorder-point", page, reorder_point="6", back=page)
    assert flash_of(reorder) == f"{sku}: reorder point 6."
    safety = await act(ops, f"/console/inventory/{sku}/locations/{location}/safety-stock", page, safety_stock="3",
                       back=page)
    assert flash_of(safety) == f"{sku} at {location}: safety stock 3."
    (row,) = (await api.get("/inventory", params={"location": location})).json()
    assert (row["reorder_point"], row["safety_stock"], row["atp"], row["below_reorder_point"]) == (6, 3, 5, True)
    low = await ops.get("/console/inventory", params={"below": "1"})
    assert f'id="{sku}@{location}"' in low.text and "badge bad\">low" in low.text
    assert sku in (await ops.get("/console/queues/low_stock")).text  # the alert opened at once

    typo = await act(ops, f"/console/inventory/{sku}/reorder-point", page, reorder_point="six", back=page)
    assert "Reorder point not set" in flash_of(typo) and "[invalid_count]" in flash_of(typo)
    trail = (await api.get("/audit", params={"action": "inventory.*"})).json()["entries"]
    assert {(e["action"], e["target"], e["details"].get("via")) for e in trail} >= {
        ("inventory.reorder_point_set", sku, "console"), ("inventory.safety_stock_set", f"{sku}@{location}", "console")}


async def test_the_audit_log_filters_by_actor_action_and_day(ops, api, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 1})
    assert (await api.patch(f"/admin/inventory/{sku}", json={"reorder_point": 2})).status_code == 204
    today = datetime.now(UTC).date().isoformat()
    page = await ops.get("/console/audit", params={"action": "inventory.reorder_point_set", "since": today,
                                                   "until": today})
    assert page.status_code == 200 and sku in page.text
    assert "inventory.safety_stock_set" not in page.text
    nobody = await ops.get("/console/audit", params={"actor": "nobody-at-all"})
    assert "No entries." in nobody.text
    bad_day = await ops.get("/console/audit", params={"since": "30/11/2026"})
    assert bad_day.status_code == 200 and "Dates are YYYY-MM-DD" in bad_day.text


async def test_the_revenue_chart_leaves_out_cancelled_orders(ops, api, temporal_env, engine):
    kept, _ = await placed_order(api, temporal_env, engine, {3000: 1})
    cancelled, _ = await placed_order(api, temporal_env, engine, {7000: 1})
    answer = await api.post(f"/orders/{cancelled['order_id']}/cancel", json={"reason": "changed mind"})
    assert answer.status_code == 200, answer.text
    today = datetime.now(UTC).date().isoformat()
    expected = (await api.get("/reports/sales", params={"from": today, "to": today})).json()["totals"]
    (usd,) = [t for t in expected if t["currency"] == "USD"]
    kept_total = (await api.get(f"/orders/{kept['order_id']}")).json()["totals"]["total"]

    page = await ops.get("/console/reports", params={"start": today, "end": today})
    chart = re.search(r'<section class="revenue" data-currency="USD">(.*?)</section>', page.text, re.S).group(1)
    assert "<svg" in chart and "<script" not in page.text
    bar = re.search(r"<title>" + today + r": ([\d.]+) USD</title>", chart).group(1)
    assert round(float(bar) * 100) == usd["revenue"] >= kept_total  # the API's figure, cancelled order left out
    assert usd["cancelled"] >= 1
    week = await ops.get("/console/reports")  # the last 30 days by default: one bar a day
    assert len(re.findall(r"<rect ", week.text)) == 30 * len(re.findall(r'class="revenue"', week.text))
