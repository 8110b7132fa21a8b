"""Concurrent demand for the last units never sells more than exist (real PostgreSQL)."""

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from db import inventory
from db.tables import reservations, stock
from models.errors import OutOfStock
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import atp, cart_with, checkout_body, finished_checkout, start_checkout


async def _reserve(engine, key, wanted):
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            await inventory.reserve(conn, key, wanted, now=now, expires_at=now + timedelta(minutes=15))
        return "held"
    except OutOfStock:
        return "out_of_stock"


async def test_concurrent_reservations_hold_exactly_the_available_units(engine):
    east, west = await make_location(engine), await make_location(engine)
    sku = await make_sku(engine, stock={east: 3, west: 2})

    outcomes = await asyncio.gather(*(_reserve(engine, f"race-{i}", {sku: 1}) for i in range(20)))

    assert outcomes.count("held") == 5
    assert outcomes.count("out_of_stock") == 15
    async with engine.connect() as conn:
        rows = list(await conn.execute(select(stock).where(stock.c.sku == sku)))
        held = (await conn.execute(select(reservations.c.quantity).where(reservations.c.sku == sku))).scalars().all()
    assert sum(r.reserved for r in rows) == 5 == sum(held)
    assert all(r.reserved <= r.on_hand for r in rows)


async def test_concurrent_multi_sku_reservations_do_not_deadlock_or_oversell(engine):
    loc = await make_location(engine)
    a, b = await make_sku(engine, stock={loc: 4}), await make_sku(engine, stock={loc: 4})
    # Opposite SKU orders in the request: locks are taken in sorted order, so no deadlock.
    wants = [({a: 1, b: 1} if i % 2 else {b: 1, a: 1}) for i in range(12)]

    outcomes = await asyncio.gather(*(_reserve(engine, f"multi-{i}", w) for i, w in enumerate(wants)))

    assert outcomes.count("held") == 4
    async with engine.connect() as conn:
        reserved = dict((await conn.execute(select(stock.c.sku, stock.c.reserved).where(stock.c.sku.in_([a, b])))).all())
    assert reserved == {a: 4, b: 4}


async def test_concurrent_checkouts_for_the_last_units_sell_exactly_what_exists(api, temporal_env, engine):
    loc = await make_location(engine)
    sku = await make_sku(engine, stock={loc: 3})
    carts = [await cart_with(api, {sku: 1}) for _ in range(8)]

    started = await asyncio.gather(*(start_checkout(api, checkout_body(cart)) for cart in carts))
    assert all(r.status_code == 202 for r in started)
    results = await asyncio.gather(
        *(finished_checkout(api, temporal_env.client, r.json()["checkout_id"]) for r in started)
    )

    completed = [r for r in results if r["status"] == "completed"]
    failed = [r for r in results if r["status"] == "failed"]
    assert len(completed) == 3
    assert {r["error"]["code"] for r in failed} == {"out_of_stock"} and len(failed) == 5
    assert await atp(api, sku) == 0
    inventory_view = (await api.get(f"/inventory/{sku}")).json()
    assert inventory_view["locations"][0]["reserved"] == 3
