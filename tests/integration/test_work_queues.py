"""Work queues over HTTP: what waits, oldest first, linked to its order and workflow; per role; expiry flags."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from db import orders as order_store
from db import returns as return_store
from db.tables import returns
from models.ids import public_id
from tests.integration.checkout_helpers import order_with_shipments, placed_order
from tests.integration.ops_helpers import make_fraud_hold



@pytest.fixture(scope="module")
async def waiting(api, temporal_env, engine) -> dict:
    """A parcel to pack, a fraud review 20 h old (times out at 24 h), a return request 13.9 days old (expires at
    14), and an order with an alert; ``now`` is when they were made (the queue's times are relative to it)."""
    now = datetime.now(UTC)
    done, (sku,) = await placed_order(api, temporal_env, engine)
    order_id = done["order_id"]
    shipment = (await order_with_shipments(api, order_id, 1))["shipments"][0]
    checkout_id = await make_fraud_hold(engine, timedelta(hours=20), score=65, reasons=("high_value",))
    rma_id = public_id("return")
    async with engine.begin() as conn:
        await return_store.create(conn, rma_id=rma_id, order_id=order_id, exchange=False,
                                  lines=[{"sku": sku, "quantity": 1, "reason": "too_small"}])
        await conn.execute(update(returns).where(returns.c.id == rma_id)
                           .values(created_at=now - timedelta(days=13, hours=22)))
        await order_store.append_event(conn, order_id, f"{order_id}:alert:cancel_incomplete:void", "order.alert",
                                       data={"alert": "cancel_incomplete:void"})
    return {"order_id": order_id, "shipment_id": shipment["id"], "checkout_id": checkout_id, "rma_id": rma_id,
            "now": now}


async def test_each_role_lists_its_queues_with_counts(api_as, waiting):
    warehouse = (await api_as("warehouse").get("/work-queues")).json()
    assert [q["queue"] for q in warehouse] == ["returns_to_receive", "returns_to_inspect", "parcels_to_pack",
                                               "parcel_alerts"]
    counts = {q["queue"]: q["count"] for q in warehouse}
    assert counts["parcels_to_pack"] == 1 and counts["returns_to_receive"] == 0
    support = {q["queue"]: q for q in (await api_as("support").get("/work-queues")).json()}
    assert set(support) == {"fraud_review", "returns_to_decide", "returns_needing_attention",
                            "orders_needing_attention"}
    assert support["fraud_review"]["count"] == support["returns_to_decide"]["count"] == 1
    oldest = datetime.fromisoformat(support["returns_to_decide"]["oldest_at"])
    assert oldest < waiting["now"] - timedelta(days=13)
    assert (await api_as("catalog").get("/work-queues")).status_code == 403  # nothing of theirs waits


async def test_a_queue_outside_the_role_is_not_found(api_as, waiting):
    refused = await api_as("warehouse").get("/work-queues/fraud_review")
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "queue_not_found"
    assert (await api_as("support").get("/work-queues/nonsense")).status_code == 404


async def test_parcels_link_their_order_and_workflow(api_as, waiting):
    (item,) = (await api_as("warehouse").get("/work-queues/parcels_to_pack")).json()
    assert (item["id"], item["order_id"]) == (waiting["shipment_id"], waiting["order_id"])
    assert item["order_url"] == f"/orders/{waiting['order_id']}"
    assert item["workflow_url"] == f"http://127.0.0.1:8233/namespaces/default/workflows/shipment-{waiting['shipment_id']}"
    assert (item["expires_at"], item["expiring_soon"]) == (None, False)


async def test_fraud_reviews_and_return_decisions_about_to_expire_are_flagged(api_as, waiting):
    support = api_as("support")
    (review,) = (await support.get("/work-queues/fraud_review")).json()
    assert review["id"] == waiting["checkout_id"] and review["expiring_soon"] is True
    assert datetime.fromisoformat(review["expires_at"]) - waiting["now"] == pytest.approx(timedelta(hours=4), abs=timedelta(minutes=5))
    assert review["workflow_url"].endswith(f"/workflows/checkout-{waiting['checkout_id']}")
    (decision,) = (await support.get("/work-queues/returns_to_decide")).json()
    assert (decision["id"], decision["order_id"], decision["expiring_soon"]) == (
        waiting["rma_id"], waiting["order_id"], True)
    assert decision["url"] == f"/returns/{waiting['rma_id']}"


async def test_an_order_alert_waits_until_support_resolves_it(api_as, waiting):
    support = api_as("support")
    (item,) = (await support.get("/work-queues/orders_needing_attention")).json()
    assert (item["id"], item["summary"]) == (waiting["order_id"], "cancel_incomplete:void")
    assert item["workflow_url"].endswith(f"/workflows/order-{waiting['order_id']}")
    resolved = await support.post(f"/orders/{waiting['order_id']}/alerts/resolve", json={"note": "voided by hand"})
    assert resolved.status_code == 204, resolved.text
    assert (await support.get("/work-queues/orders_needing_attention")).json() == []
    trail = (await support.get(f"/orders/{waiting['order_id']}/audit")).json()
    assert [(e["action"], e["reason"]) for e in trail] == [("order.alerts_resolved", "voided by hand")]


async def test_low_stock_is_ops_work(api_as, engine, waiting):
    from tests.factories import make_location, make_sku

    sku = await make_sku(engine, stock={await make_location(engine): 3})
    ops = api_as("ops")
    assert (await ops.patch(f"/admin/inventory/{sku}", json={"reorder_point": 5})).status_code == 204
    items = (await ops.get("/work-queues/low_stock")).json()
    assert [(i["details"]["sku"], i["details"]["atp"], i["url"]) for i in items] == [(sku, 3, f"/inventory/{sku}")]
