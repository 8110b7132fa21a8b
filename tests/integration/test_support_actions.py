"""Support actions through HTTP: cancel before shipment, refunds with limits and idempotency."""

import asyncio

from db import payments as ledger
from tests.integration.checkout_helpers import (
    atp,
    delivered_order,
    eventually,
    order_with_shipments,
    placed_order,
    refund,
)


async def test_cancel_before_shipment_voids_and_releases(api, temporal_env, engine):
    done, (sku,) = await placed_order(api, temporal_env, engine)
    await order_with_shipments(api, done["order_id"], 1)
    assert await atp(api, sku) == 9

    async def cancelled():
        # 409 order_not_ready while the order workflow is still starting its shipments: retry, as a client would.
        response = await api.post(f"/orders/{done['order_id']}/cancel", json={"reason": "customer changed mind"})
        return None if response.json().get("error", {}).get("code") == "order_not_ready" else response

    response = await eventually(cancelled)
    assert response is not None and response.status_code == 200, response and response.text
    assert response.json() == {"order_id": done["order_id"], "status": "cancelled"}

    order = (await api.get(f"/orders/{done['order_id']}")).json()
    assert order["status"] == "cancelled"
    assert order["shipments"][0]["status"] == "cancelled"
    assert await atp(api, sku) == 10
    async with engine.connect() as conn:
        kinds = {op.kind: op.status for op in await ledger.operations_for(conn, done["checkout_id"])}
    assert kinds == {"authorize": "succeeded", "void": "succeeded"}
    assert await temporal_env.client.get_workflow_handle(f"order-{done['order_id']}").result() == "cancelled"

    again = await api.post(f"/orders/{done['order_id']}/cancel", json={"reason": "again"})
    assert again.status_code == 409 and again.json()["error"]["code"] in {"already_cancelled", "order_not_cancellable"}


async def test_cancel_after_shipment_is_refused(api, temporal_env, engine):
    done, _ = await delivered_order(api, temporal_env, engine)
    response = await api.post(f"/orders/{done['order_id']}/cancel", json={"reason": "too late"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "order_not_cancellable"
    assert (await api.get(f"/orders/{done['order_id']}")).json()["status"] == "fulfilled"


async def test_cancel_while_a_parcel_ships_is_refused_with_a_code(api, temporal_env, engine):
    done, _ = await placed_order(api, temporal_env, engine)
    shipment = (await order_with_shipments(api, done["order_id"], 1))["shipments"][0]
    await api.post(f"/shipments/{shipment['id']}/packed")

    async def shipped():
        return (await api.get(f"/orders/{done['order_id']}")).json()["status"] == "fulfilled"

    assert await eventually(shipped)
    response = await api.post(f"/orders/{done['order_id']}/cancel", json={"reason": "late"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "already_shipped"


async def test_partial_then_full_refund_and_limits(api, temporal_env, engine):
    done, (cheap, dear) = await delivered_order(api, temporal_env, engine, {1000: 2, 5000: 1})
    order_id = done["order_id"]
    total = (await api.get(f"/orders/{order_id}")).json()["totals"]["total"]

    by_lines = await refund(api, order_id, {"lines": [{"sku": cheap, "quantity": 1}], "reason": "damaged"})
    assert by_lines.status_code == 200, by_lines.text
    first = by_lines.json()
    assert first["order_status"] == "partially_refunded"
    # One of two units: (2000 + its 145 California tax) / 2, rounded down.
    assert first["amount"] == (2000 + 145) // 2

    too_many = await refund(api, order_id, {"lines": [{"sku": cheap, "quantity": 2}], "reason": "again"})
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "refund_exceeds_quantity"
    too_much = await refund(api, order_id, {"amount": total, "reason": "all of it"})
    assert too_much.status_code == 422 and too_much.json()["error"]["code"] == "refund_exceeds_captured"

    rest = await refund(api, order_id, {"reason": "goodwill: the rest"})
    assert rest.status_code == 200 and rest.json()["amount"] == total - first["amount"]
    assert rest.json()["order_status"] == "refunded"
    order = (await api.get(f"/orders/{order_id}")).json()
    assert order["status"] == "refunded"
    assert [e["type"] for e in order["events"]].count("payment.refunded") == 2
    listed = (await api.get(f"/orders/{order_id}/refunds")).json()
    assert sum(r["amount"] for r in listed) == total


async def test_refund_replay_and_key_reuse(api, temporal_env, engine):
    done, _ = await delivered_order(api, temporal_env, engine)
    body = {"amount": 500, "reason": "late delivery"}
    first = await refund(api, done["order_id"], body, key="refund-key-1")
    again = await refund(api, done["order_id"], body, key="refund-key-1")
    assert first.status_code == again.status_code == 200
    assert first.json()["refund_id"] == again.json()["refund_id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    different = await refund(api, done["order_id"], {"amount": 600, "reason": "late delivery"}, key="refund-key-1")
    assert different.status_code == 409 and different.json()["error"]["code"] == "idempotency_key_reused"
    async with engine.connect() as conn:
        totals = await ledger.totals(conn, done["checkout_id"])
    assert totals.refunded == 500


async def test_concurrent_partial_refunds_exceeding_the_capture_let_exactly_one_through(api, temporal_env, engine):
    done, _ = await delivered_order(api, temporal_env, engine)
    total = (await api.get(f"/orders/{done['order_id']}")).json()["totals"]["total"]
    amount = total * 2 // 3

    responses = await asyncio.gather(*(refund(api, done["order_id"], {"amount": amount, "reason": f"r{i}"})
                                       for i in range(2)))

    assert sorted(r.status_code for r in responses) == [200, 422]
    refused = next(r for r in responses if r.status_code == 422)
    assert refused.json()["error"]["code"] == "refund_exceeds_captured"
    async with engine.connect() as conn:
        assert (await ledger.totals(conn, done["checkout_id"])).refunded == amount


async def test_refund_on_an_unpaid_order_and_bad_input(api, temporal_env, engine):
    done, _ = await placed_order(api, temporal_env, engine)
    nothing = await refund(api, done["order_id"], {"reason": "nothing captured yet"})
    assert nothing.status_code == 422 and nothing.json()["error"]["code"] == "refund_exceeds_captured"
    both = await refund(api, done["order_id"], {"amount": 5, "lines": [{"sku": "X", "quantity": 1}], "reason": "x"})
    assert both.status_code == 422 and both.json()["error"]["code"] == "validation_error"
    no_key = await api.post(f"/orders/{done['order_id']}/refunds", json={"reason": "x"})
    assert no_key.status_code == 400 and no_key.json()["error"]["code"] == "idempotency_key_required"
    missing = await refund(api, "ord_missing", {"reason": "x"})
    assert missing.status_code == 404
