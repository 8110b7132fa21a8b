"""Revenue counts sales only: not cancelled orders, not no-charge exchange orders; and days are the store's.

The module has its own database, so today's figures are exactly what these tests made.
"""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, update

from db import reports
from db import returns as return_store
from db.tables import carts, orders
from models.ids import public_id
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import cart_with, checkout_to_end, eventually

TODAY = datetime.now(UTC).date()


async def _cancelled(api, temporal_env, sku) -> dict:
    done = await checkout_to_end(api, temporal_env.client, await cart_with(api, {sku: 1}))
    response = await api.post(f"/orders/{done['order_id']}/cancel", json={"reason": "customer asked"})
    assert response.status_code in (200, 202), response.text

    async def cancelled():
        return (await api.get(f"/orders/{done['order_id']}")).json()["status"] == "cancelled"

    assert await eventually(cancelled)
    return done


async def _exchange_for(engine, order_id: str, sku: str) -> str:
    """What the returns workflow records for an exchange: a return, and its no-charge replacement order."""
    rma_id, replacement = public_id("return"), public_id("order")
    async with engine.begin() as conn:
        original = (await conn.execute(select(orders).where(orders.c.id == order_id))).one()
        await return_store.create(conn, rma_id=rma_id, order_id=order_id, exchange=True,
                                  lines=[{"sku": sku, "quantity": 1, "reason": "too_small"}])
        await return_store.create_exchange_order(conn, order_id=replacement, rma_id=rma_id, original=original,
                                                 units={sku: 1}, now=datetime.now(UTC))
        await return_store.set_status(conn, rma_id, "exchanged", replacement_order_id=replacement)
    return replacement


@pytest.fixture(scope="module")
async def placed(api, temporal_env, engine) -> dict:
    """A sale, a cancelled order, and an exchange sent for the sale."""
    location = await make_location(engine)
    sku = await make_sku(engine, price=1500, stock={location: 20})
    sale = await checkout_to_end(api, temporal_env.client, await cart_with(api, {sku: 2}))
    assert sale["status"] == "completed", sale
    cancelled = await _cancelled(api, temporal_env, sku)
    exchange = await _exchange_for(engine, sale["order_id"], sku)
    return {"sale": (await api.get(f"/orders/{sale['order_id']}")).json(), "cancelled": cancelled,
            "exchange": exchange}


async def test_revenue_counts_neither_cancelled_nor_exchange_orders(api, placed):
    report = (await api.get("/reports/sales", params={"from": TODAY.isoformat(), "to": TODAY.isoformat()})).json()
    (day,) = report["days"]
    total = placed["sale"]["totals"]["total"]
    assert day["currencies"] == [{"currency": "USD", "orders": 1, "revenue": total, "aov": total, "refunds": 0,
                                  "cancelled": 1}]
    assert day["orders"] == 1
    # Two carts, both checked out; the exchange reuses the sale's cart and converts nothing.
    assert (day["carts_created"], day["conversion_rate"]) == (2, 1.0)


async def test_days_are_the_report_time_zones(engine, api, temporal_env):
    """An order at 2026-01-01 12:00 UTC is on 1 January in London and on 2 January at UTC+14."""
    location = await make_location(engine)
    sku = await make_sku(engine, price=700, stock={location: 5})
    cart_id = await cart_with(api, {sku: 1})
    done = await checkout_to_end(api, temporal_env.client, cart_id)
    noon = datetime(2026, 1, 1, 12, tzinfo=UTC)
    async with engine.begin() as conn:
        await conn.execute(update(orders).where(orders.c.id == done["order_id"]).values(created_at=noon))
        await conn.execute(update(carts).where(carts.c.id == cart_id).values(created_at=noon))
    first, second = date(2026, 1, 1), date(2026, 1, 2)
    async with engine.connect() as conn:
        london = await reports.sales(conn, first, second, "Europe/London")
        kiritimati = await reports.sales(conn, first, second, "Pacific/Kiritimati")
    assert [day.orders for day in london.days] == [1, 0]
    assert [day.orders for day in kiritimati.days] == [0, 1]
    assert [day.carts_created for day in kiritimati.days] == [0, 1]
