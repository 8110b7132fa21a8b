"""Inventory admin over HTTP: the stock list (JSON, CSV), bulk counts by CSV with a dry run, reorder points
and safety stock; and browsing the audit log those changes leave."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from db.tables import low_stock_alerts, stock
from tests.factories import make_sku

CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module")
async def shelves(api, engine) -> dict:
    east = (await api.post("/admin/inventory/locations", json={"code": "east", "name": "East", "region": "us-east",
                                                                "country": "US"})).json()["id"]
    west = (await api.post("/admin/inventory/locations", json={"code": "west", "name": "West", "region": "us-west",
                                                                "country": "US"})).json()["id"]
    tee = await make_sku(engine, stock={east: 6, west: 2})
    mug = await make_sku(engine, stock={east: 50})
    return {"east": east, "west": west, "tee": tee, "mug": mug}


async def _on_hand(engine, sku, location_id) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(stock.c.on_hand).where(
            (stock.c.sku == sku) & (stock.c.location_id == location_id)))).scalar_one()


async def test_stock_list_filters_by_location_and_reorder_point(api, shelves):
    tee = shelves["tee"]
    assert (await api.patch(f"/admin/inventory/{tee}", json={"reorder_point": 8})).status_code == 204
    everything = (await api.get("/inventory")).json()
    assert [(r["sku"], r["location"]) for r in everything if r["sku"] == tee] == [(tee, "east"), (tee, "west")]
    east = (await api.get("/inventory", params={"location": "east"})).json()
    assert {r["location"] for r in east} == {"east"} and {r["sku"] for r in east} >= {tee, shelves["mug"]}
    low = (await api.get("/inventory", params={"below_reorder_point": "true"})).json()
    assert [(r["sku"], r["sku_atp"], r["reorder_point"]) for r in low] == [(tee, 8, 8), (tee, 8, 8)]
    exported = await api.get("/inventory", params={"location": "west", "format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {(r["sku"], r["on_hand"], r["below_reorder_point"]) for r in rows} >= {(tee, "2", "True")}


async def test_safety_stock_and_reorder_point_move_the_low_stock_alert(api, engine, shelves):
    mug = shelves["mug"]
    assert (await api.patch(f"/admin/inventory/{mug}", json={"reorder_point": 10})).status_code == 204
    changed = await api.patch(f"/admin/inventory/{mug}/locations/east", json={"safety_stock": 45})
    assert changed.status_code == 204, changed.text
    async with engine.connect() as conn:
        (alert,) = list(await conn.execute(select(low_stock_alerts).where(low_stock_alerts.c.sku == mug)))
    assert (alert.atp_at_alert, alert.resolved_at) == (5, None)
    assert (await api.patch(f"/admin/inventory/{mug}", json={"reorder_point": 0})).status_code == 204
    async with engine.connect() as conn:
        (alert,) = list(await conn.execute(select(low_stock_alerts).where(low_stock_alerts.c.sku == mug)))
    assert alert.resolved_at is not None
    bad = await api.patch(f"/admin/inventory/{mug}", json={"reorder_point": -1})
    assert bad.status_code == 422
    assert (await api.patch("/admin/inventory/NOPE", json={"reorder_point": 1})).status_code == 404


async def test_bulk_count_dry_run_reports_every_row_and_changes_nothing(api, engine, shelves):
    tee, mug = shelves["tee"], shelves["mug"]
    body = f"sku,location,on_hand,safety_stock\n{tee},east,9,\n{mug},mars,1,\nNOPE,east,1,\n{tee},west,x,\n"
    response = await api.post("/admin/inventory/counts?dry_run=true", content=body, headers=CSV)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["dry_run"], report["applied"], report["refused"]) == (True, 1, 3)
    assert [(r["row"], r["status"], r.get("code")) for r in report["rows"]] == [
        (1, "ok", None), (2, "refused", "location_not_found"), (3, "refused", "unknown_sku"),
        (4, "invalid", "invalid_row")]
    assert (report["rows"][0]["on_hand_before"], report["rows"][0]["delta"]) == (6, 3)
    assert await _on_hand(engine, tee, shelves["east"]) == 6


async def test_bulk_count_applies_good_rows_and_records_the_ledger(api, engine, shelves):
    tee = shelves["tee"]
    body = f"sku,location,on_hand,reorder_point\n{tee},east,11,2\n{tee},nowhere,1,\n"
    report = (await api.post("/admin/inventory/counts", params={"reference": "count-42"}, content=body,
                             headers=CSV)).json()
    assert (report["dry_run"], report["applied"], report["refused"]) == (False, 1, 1)
    assert await _on_hand(engine, tee, shelves["east"]) == 11
    ledger = (await api.get(f"/admin/inventory/{tee}/ledger")).json()
    assert (ledger[0]["delta_on_hand"], ledger[0]["reason"], ledger[0]["reference"]) == (5, "count", "count-42")
    assert (await api.post("/admin/inventory/counts", content="sku,on_hand\n", headers=CSV)).status_code == 422


async def test_audit_browse_by_actor_action_and_time(api_as, shelves):
    ops = api_as("ops")
    since = datetime.now(UTC) - timedelta(seconds=1)
    for point in (3, 4, 5):
        assert (await ops.patch(f"/admin/inventory/{shelves['mug']}", json={"reorder_point": point})).status_code == 204
    page = (await ops.get("/audit", params={"actor": "test ops", "action": "inventory.*",
                                            "since": since.isoformat(), "limit": 2})).json()
    assert [e["details"]["reorder_point"] for e in page["entries"]] == [5, 4]  # newest first
    assert page["next_after"] == page["entries"][-1]["id"]
    rest = (await ops.get("/audit", params={"actor": "test ops", "action": "inventory.reorder_point_set",
                                            "since": since.isoformat(), "after": page["next_after"]})).json()
    assert ([e["details"]["reorder_point"] for e in rest["entries"]], rest["next_after"]) == ([3], None)
    assert (await ops.get("/audit", params={"until": since.isoformat(), "actor": "test ops"})).json()["entries"] == []
    naive = await ops.get("/audit", params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["error"]["code"] == "invalid_instant"
    assert (await ops.get("/audit", params={"after": "aud_unknown"})).json()["error"]["code"] == "invalid_cursor"
    assert (await api_as("support").get("/audit")).status_code == 403
