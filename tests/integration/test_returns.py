"""Returns (RMA) through HTTP on the dev server: approval, receipt, inspection, refund, exchange."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from config import Settings
from db.tables import locations, shipments
from tests.integration.checkout_helpers import atp, workflow_result
from tests.integration.checkout_helpers import eventually
from tests.integration.checkout_helpers import delivered_order

FEE_BP = 1000  # 10 % restocking fee on returns that are not our fault


@pytest.fixture(scope="module")
def settings(database_url, task_queue) -> Settings:
    return Settings(environment="test", database_url=database_url, task_queue=task_queue, restocking_fee_bp=FEE_BP)


async def location_code(engine, sku) -> str:
    async with engine.connect() as conn:
        return (await conn.execute(select(locations.c.code).order_by(locations.c.created_at.desc()))).first().code


async def returned(api, order_id, lines, **extra):
    response = await api.post(f"/orders/{order_id}/returns", json={"lines": lines, **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def status_becomes(api, rma_id, expected):
    async def probe():
        return (await api.get(f"/returns/{rma_id}")).json()["status"] == expected
    assert await eventually(probe), f"return {rma_id} never became {expected}"


async def test_mixed_dispositions_restock_only_resellable_units_and_refund_minus_fee(api, temporal_env, engine):
    done, (sku,) = await delivered_order(api, temporal_env, engine, {2000: 3})
    order_id = done["order_id"]
    shelf = await location_code(engine, sku)
    atp_before = await atp(api, sku)

    rma = await returned(api, order_id, [{"sku": sku, "quantity": 3, "reason": "no_longer_needed"}])
    assert rma["status"] == "requested"
    assert (await api.post(f"/returns/{rma['id']}/receive")).json()["error"]["code"] == "return_state_conflict"
    approved = await api.post(f"/returns/{rma['id']}/approve", json={"note": "ok"})
    assert approved.status_code == 200, approved.text
    await status_becomes(api, rma["id"], "awaiting_return")
    assert (await api.get(f"/returns/{rma['id']}")).json()["label"]["tracking_code"]

    assert (await api.post(f"/returns/{rma['id']}/receive")).status_code == 200
    await status_becomes(api, rma["id"], "received")
    assert (await api.get(f"/orders/{order_id}")).json()["status"] == "returned", "every unit is back"

    wrong = await api.post(f"/returns/{rma['id']}/inspect", json={"units": [
        {"sku": sku, "quantity": 1, "disposition": "resell", "location_code": shelf}]})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "inspection_mismatch"
    inspected = await api.post(f"/returns/{rma['id']}/inspect", json={"units": [
        {"sku": sku, "quantity": 1, "disposition": "resell", "location_code": shelf},
        {"sku": sku, "quantity": 1, "disposition": "refurbish"},
        {"sku": sku, "quantity": 1, "disposition": "scrap", "accepted": False},
    ]})
    assert inspected.status_code == 200, inspected.text
    result = await workflow_result(temporal_env.client, f"return-{rma['id']}")
    assert result == "refunded"

    assert await atp(api, sku) == atp_before + 1, "only the resellable unit goes back on the shelf"
    order = (await api.get(f"/orders/{order_id}")).json()
    line = order["lines"][0]
    value = 2 * (line["line_total"] + line["tax"]) // 3
    refunds = (await api.get(f"/orders/{order_id}/refunds")).json()
    assert [r["amount"] for r in refunds] == [value - (value * FEE_BP + 5000) // 10000]
    assert order["status"] == "partially_refunded"


async def test_defective_items_are_refunded_without_fee(api, temporal_env, engine):
    done, (sku,) = await delivered_order(api, temporal_env, engine, {1500: 1})
    rma = await returned(api, done["order_id"], [{"sku": sku, "quantity": 1, "reason": "defective"}])
    await api.post(f"/returns/{rma['id']}/approve", json={})
    await status_becomes(api, rma["id"], "awaiting_return")
    await api.post(f"/returns/{rma['id']}/receive")
    await status_becomes(api, rma["id"], "received")
    await api.post(f"/returns/{rma['id']}/inspect", json={"units": [{"sku": sku, "quantity": 1, "disposition": "scrap"}]})
    assert await workflow_result(temporal_env.client, f"return-{rma['id']}") == "refunded"
    order = (await api.get(f"/orders/{done['order_id']}")).json()
    line = order["lines"][0]
    assert (await api.get(f"/orders/{done['order_id']}/refunds")).json()[0]["amount"] == line["line_total"] + line["tax"]


async def test_exchange_ships_a_no_charge_replacement(api, temporal_env, engine):
    done, (sku,) = await delivered_order(api, temporal_env, engine, {2500: 1})
    rma = await returned(api, done["order_id"], [{"sku": sku, "quantity": 1, "reason": "size_fit"}], exchange=True)
    await api.post(f"/returns/{rma['id']}/approve", json={})
    await status_becomes(api, rma["id"], "awaiting_return")
    await api.post(f"/returns/{rma['id']}/receive")
    await status_becomes(api, rma["id"], "received")
    await api.post(f"/returns/{rma['id']}/inspect", json={"units": [{"sku": sku, "quantity": 1,
                                                                       "disposition": "refurbish"}]})
    assert await workflow_result(temporal_env.client, f"return-{rma['id']}") == "exchanged"
    replacement_id = (await api.get(f"/returns/{rma['id']}")).json()["replacement_order_id"]
    replacement = (await api.get(f"/orders/{replacement_id}")).json()
    assert replacement["totals"]["total"] == 0 and replacement["status"] == "authorized"
    assert replacement["lines"][0]["sku"] == sku

    async def routed():
        return len((await api.get(f"/orders/{replacement_id}")).json()["shipments"]) == 1
    assert await eventually(routed), "the replacement flows into fulfillment"
    assert (await api.get(f"/orders/{done['order_id']}/refunds")).json() == []


async def test_reject_and_limits(api, temporal_env, engine):
    done, (sku,) = await delivered_order(api, temporal_env, engine, {1000: 2})
    too_many = await api.post(f"/orders/{done['order_id']}/returns",
                              json={"lines": [{"sku": sku, "quantity": 3, "reason": "other"}]})
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "return_exceeds_delivered"

    rma = await returned(api, done["order_id"], [{"sku": sku, "quantity": 2, "reason": "other"}])
    again = await api.post(f"/orders/{done['order_id']}/returns",
                           json={"lines": [{"sku": sku, "quantity": 1, "reason": "other"}]})
    assert again.status_code == 422, "units already on a return cannot be returned twice"
    rejected = await api.post(f"/returns/{rma['id']}/reject", json={"note": "outside policy"})
    assert rejected.status_code == 200
    assert await workflow_result(temporal_env.client, f"return-{rma['id']}") == "rejected"
    second = await api.post(f"/returns/{rma['id']}/approve", json={})
    assert second.status_code == 409

    async with engine.begin() as conn:
        await conn.execute(update(shipments).where(shipments.c.order_id == done["order_id"])
                           .values(delivered_at=datetime.now(UTC) - timedelta(days=45)))
    late = await api.post(f"/orders/{done['order_id']}/returns",
                          json={"lines": [{"sku": sku, "quantity": 1, "reason": "other"}]})
    assert late.status_code == 422 and late.json()["error"]["code"] == "return_window_closed"


async def test_returns_need_a_delivered_order(api, temporal_env, engine):
    from tests.integration.test_support_actions import placed_order

    done, (sku,) = await placed_order(api, temporal_env, engine)
    response = await api.post(f"/orders/{done['order_id']}/returns",
                              json={"lines": [{"sku": sku, "quantity": 1, "reason": "other"}]})
    assert response.status_code == 422 and response.json()["error"]["code"] == "not_delivered"
    assert (await api.get("/returns/rma_missing")).status_code == 404
