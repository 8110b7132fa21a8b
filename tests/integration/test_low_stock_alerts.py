"""Low-stock alerts against real PostgreSQL: one alert per downward crossing, concurrency-safe."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from db import inventory
from db.tables import low_stock_alerts, variants
from tests.factories import make_location, make_sku

NOW = datetime(2030, 1, 1, tzinfo=UTC)
LATER = NOW + timedelta(minutes=15)


@pytest.fixture(scope="module")
async def warehouse(engine):
    return await make_location(engine)


async def sku_with(engine, stock: dict[str, int], reorder_point: int) -> str:
    sku = await make_sku(engine, stock=stock)
    async with engine.begin() as conn:
        await conn.execute(update(variants).where(variants.c.sku == sku).values(reorder_point=reorder_point))
    return sku


async def reserve(engine, sku: str, quantity: int, *, expires_at=LATER) -> str:
    key = f"test-{uuid.uuid4().hex[:12]}"
    async with engine.begin() as conn:
        await inventory.reserve(conn, key, {sku: quantity}, now=NOW, expires_at=expires_at)
    return key


async def set_count(engine, sku: str, location_id: str, on_hand: int) -> None:
    async with engine.begin() as conn:
        await inventory.set_stock(conn, sku, location_id, on_hand=on_hand)


async def alerts(engine, sku: str) -> list:
    async with engine.connect() as conn:
        rows = await conn.execute(select(low_stock_alerts).where(low_stock_alerts.c.sku == sku)
                                  .order_by(low_stock_alerts.c.created_at))
        return list(rows)


async def test_one_alert_per_downward_crossing(engine, warehouse):
    sku = await sku_with(engine, {warehouse: 10}, reorder_point=4)

    await reserve(engine, sku, 5)
    assert await alerts(engine, sku) == [], "ATP 5 is still above the reorder point"

    await reserve(engine, sku, 1)
    (alert,) = await alerts(engine, sku)
    assert alert.id.startswith("lsa_")
    assert (alert.atp_at_alert, alert.reorder_point, alert.resolved_at) == (4, 4, None)

    await reserve(engine, sku, 2)
    assert len(await alerts(engine, sku)) == 1, "falling further records nothing new"

    await set_count(engine, sku, warehouse, 20)  # restock: ATP 12
    (alert,) = await alerts(engine, sku)
    assert alert.resolved_at is not None

    await reserve(engine, sku, 9)  # ATP 3: a second crossing
    first, second = await alerts(engine, sku)
    assert first.resolved_at is not None
    assert (second.atp_at_alert, second.resolved_at) == (3, None)


async def test_release_and_expiry_resolve_the_alert(engine, warehouse):
    sku = await sku_with(engine, {warehouse: 6}, reorder_point=2)
    key = await reserve(engine, sku, 4)
    assert [a.resolved_at for a in await alerts(engine, sku)] == [None]

    async with engine.begin() as conn:
        await inventory.release(conn, key)
    assert (await alerts(engine, sku))[0].resolved_at is not None

    await reserve(engine, sku, 5, expires_at=NOW - timedelta(seconds=1))
    assert [a.resolved_at is None for a in await alerts(engine, sku)] == [False, True]
    async with engine.begin() as conn:
        assert await inventory.expire_due(conn, now=NOW) == 5
    assert all(a.resolved_at is not None for a in await alerts(engine, sku))


async def test_safety_stock_counts_and_zero_disables(engine, warehouse):
    disabled = await sku_with(engine, {warehouse: 3}, reorder_point=0)
    await reserve(engine, disabled, 3)
    assert await alerts(engine, disabled) == []

    guarded = await sku_with(engine, {warehouse: 10}, reorder_point=5)
    async with engine.begin() as conn:  # ATP = 10 − 6 safety = 4
        await inventory.set_stock(conn, guarded, warehouse, on_hand=10, safety_stock=6)
    assert [a.atp_at_alert for a in await alerts(engine, guarded)] == [4]


async def test_concurrent_reservations_record_exactly_one_alert(engine, warehouse):
    sku = await sku_with(engine, {warehouse: 10}, reorder_point=5)
    await asyncio.gather(*(reserve(engine, sku, 1) for _ in range(10)))
    (alert,) = await alerts(engine, sku)
    assert alert.resolved_at is None


async def test_concurrent_counts_at_different_locations_record_exactly_one_alert(engine, warehouse):
    # Each count locks only its own stock row, so only the variant lock stops both counts
    # from seeing the other location's old quantity and each opening an alert.
    other = await make_location(engine)
    for _ in range(5):
        sku = await sku_with(engine, {warehouse: 5, other: 5}, reorder_point=6)
        await asyncio.gather(set_count(engine, sku, warehouse, 0), set_count(engine, sku, other, 0))
        (alert,) = await alerts(engine, sku)
        assert alert.atp_at_alert == 5, "the first count to commit crossed; the second found it open"


async def test_alerts_endpoint_filters_open_and_resolved(api, engine, warehouse):
    sku = await sku_with(engine, {warehouse: 4}, reorder_point=2)
    await reserve(engine, sku, 2)
    await set_count(engine, sku, warehouse, 10)  # ATP 8
    await reserve(engine, sku, 6)
    resolved_id, open_id = [a.id for a in await alerts(engine, sku)]

    open_now = (await api.get("/inventory/alerts", params={"open": "true"})).json()
    resolved = (await api.get("/inventory/alerts", params={"open": "false"})).json()
    everything = await api.get("/inventory/alerts")

    assert everything.status_code == 200
    assert {a["id"] for a in everything.json()} >= {open_id, resolved_id}
    assert open_id in {a["id"] for a in open_now} and resolved_id not in {a["id"] for a in open_now}
    assert resolved_id in {a["id"] for a in resolved} and open_id not in {a["id"] for a in resolved}
    mine = next(a for a in open_now if a["id"] == open_id)
    assert mine == {**mine, "sku": sku, "atp_at_alert": 2, "reorder_point": 2, "open": True, "resolved_at": None}
