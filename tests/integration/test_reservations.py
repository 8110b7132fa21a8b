"""Reservation lifecycle on real PostgreSQL: idempotent holds, release, expiry, ledger."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from activities.sweeper import sweep_once
from db import inventory
from db.tables import inventory_ledger, reservations
from models.errors import Conflict
from tests.factories import make_location, make_sku

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def hold(engine, key, wanted, *, now=NOW, ttl=timedelta(minutes=15)):
    async with engine.begin() as conn:
        return await inventory.reserve(conn, key, wanted, now=now, expires_at=now + ttl)


async def levels(engine, sku):
    async with engine.connect() as conn:
        return {level.location_id: level for level, _ in await inventory.levels_for(conn, sku)}


async def test_reserve_is_idempotent_per_key(engine):
    loc = await make_location(engine)
    sku = await make_sku(engine, stock={loc: 5})
    first = await hold(engine, "idem-1", {sku: 2})
    second = await hold(engine, "idem-1", {sku: 2})
    assert first.items == second.items
    assert (await levels(engine, sku))[loc].reserved == 2


async def test_release_returns_stock_once(engine):
    loc = await make_location(engine)
    sku = await make_sku(engine, stock={loc: 5})
    await hold(engine, "rel-1", {sku: 3})
    async with engine.begin() as conn:
        assert await inventory.release(conn, "rel-1") == 3
    async with engine.begin() as conn:
        assert await inventory.release(conn, "rel-1") == 0
    assert (await levels(engine, sku))[loc].atp == 5


async def test_split_across_locations_when_needed(engine):
    a, b = await make_location(engine), await make_location(engine)
    sku = await make_sku(engine, stock={a: 2, b: 3})
    reservation = await hold(engine, "split-1", {sku: 4})
    assert sorted((i.location_id, i.quantity) for i in reservation.items) == sorted([(b, 3), (a, 1)])


async def test_expired_holds_are_swept_and_cannot_become_orders(engine):
    loc = await make_location(engine)
    sku = await make_sku(engine, stock={loc: 4})
    await hold(engine, "exp-1", {sku: 4}, ttl=timedelta(seconds=1))
    assert (await levels(engine, sku))[loc].atp == 0

    assert await sweep_once(engine, now=NOW + timedelta(seconds=2)) == 4
    assert (await levels(engine, sku))[loc].atp == 4
    async with engine.begin() as conn:
        with pytest.raises(Conflict) as expired:
            await inventory.commit_to_order(conn, "exp-1", "ord_x")
    assert expired.value.code == "reservation_expired"


async def test_new_reservation_reclaims_expired_holds_lazily(engine):
    loc = await make_location(engine)
    sku = await make_sku(engine, stock={loc: 2})
    await hold(engine, "lazy-old", {sku: 2}, ttl=timedelta(seconds=1))
    later = NOW + timedelta(minutes=1)
    fresh = await hold(engine, "lazy-new", {sku: 2}, now=later)
    assert fresh.items[0].quantity == 2
    async with engine.connect() as conn:
        statuses = dict((await conn.execute(select(reservations.c.reservation_key, reservations.c.status)
                                            .where(reservations.c.sku == sku))).all())
    assert statuses == {"lazy-old": "expired", "lazy-new": "active"}


async def test_committed_holds_do_not_expire(engine):
    loc = await make_location(engine)
    sku = await make_sku(engine, stock={loc: 2})
    await hold(engine, "commit-1", {sku: 1}, ttl=timedelta(seconds=1))
    async with engine.begin() as conn:
        await inventory.commit_to_order(conn, "commit-1", "ord_y")
        await inventory.commit_to_order(conn, "commit-1", "ord_y")  # replay is a no-op
    await sweep_once(engine, now=NOW + timedelta(days=1))
    assert (await levels(engine, sku))[loc].reserved == 1
    async with engine.connect() as conn:
        status = (await conn.execute(select(reservations.c.status)
                                     .where(reservations.c.reservation_key == "commit-1"))).scalar_one()
    assert status == "committed"


async def test_stock_cannot_be_counted_below_what_is_reserved(engine):
    loc = await make_location(engine)
    sku = await make_sku(engine, stock={loc: 5})
    await hold(engine, "count-1", {sku: 3})
    async with engine.begin() as conn:
        with pytest.raises(Conflict) as refused:
            await inventory.set_stock(conn, sku, loc, on_hand=2)
    assert refused.value.code == "stock_below_reserved"


async def test_every_change_is_in_the_ledger(engine):
    loc = await make_location(engine)
    sku = await make_sku(engine, stock={loc: 5})
    await hold(engine, "ledger-1", {sku: 2})
    async with engine.begin() as conn:
        await inventory.release(conn, "ledger-1")
        await inventory.set_stock(conn, sku, loc, on_hand=7, reason="receipt", reference="po-1")
    async with engine.connect() as conn:
        rows = (await conn.execute(select(inventory_ledger.c.reason, inventory_ledger.c.delta_on_hand,
                                          inventory_ledger.c.delta_reserved)
                                   .where(inventory_ledger.c.sku == sku).order_by(inventory_ledger.c.id))).all()
    assert [tuple(r) for r in rows] == [("test", 5, 0), ("reserve", 0, 2), ("release", 0, -2), ("receipt", 2, 0)]
