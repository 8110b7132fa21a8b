"""Subscriptions through HTTP on the dev server: idempotent create, refusals, and a renewal order that ships."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from db.tables import payment_operations
from models.fulfillment import TrackingEvent
from tests.factories import make_location, make_sku, make_subscription_plan
from tests.integration.checkout_helpers import ADDRESS
from tests.integration.checkout_helpers import eventually, order_with_shipments
from workflows.shipment import ShipmentWorkflow


def body(sku: str, **overrides) -> dict:
    return {"email": "ada@example.com", "payment_method": "pm_card_visa", "shipping_address": ADDRESS,
            "lines": [{"sku": sku, "quantity": 1}], "interval": "monthly",
            "anchor_date": datetime.now(UTC).date().isoformat(), **overrides}


async def create(api, payload: dict, key: str | None = None):
    return await api.post("/subscriptions", json=payload, headers={"Idempotency-Key": key or str(uuid.uuid4())})


async def first_renewal(api, subscription_id: str) -> dict:
    async def probe():
        found = (await api.get(f"/subscriptions/{subscription_id}")).json()
        return found if found["renewals"] else None

    found = await eventually(probe)
    assert found, "the first renewal never happened"
    return found


async def test_create_is_idempotent_per_key(api, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    key, plan_id = str(uuid.uuid4()), await make_subscription_plan(engine, discount_bp=1250)
    first = await create(api, body(sku, plan_id=plan_id), key)
    assert first.status_code == 201, first.text
    subscription = first.json()
    assert subscription["id"].startswith("sub_") and subscription["status"] == "active"
    assert float(subscription["discount_percent"]) == 12.5 and subscription["next_renewal_at"]

    replay = await create(api, body(sku, plan_id=plan_id), key)
    assert replay.json()["id"] == subscription["id"] and replay.headers["Idempotent-Replayed"] == "true"

    reused = await create(api, body(sku, plan_id=plan_id, lines=[{"sku": sku, "quantity": 2}]), key)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"

    missing = await api.post("/subscriptions", json=body(sku))
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "idempotency_key_required"


async def test_refused_create_records_nothing(api, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    key = str(uuid.uuid4())
    bad_card = await create(api, body(sku, payment_method="card_123"), key)
    assert bad_card.status_code == 422 and bad_card.json()["error"]["code"] == "invalid_payment_method"
    unknown = await create(api, body("SKU-NOPE"))
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "sku_not_sellable"
    invalid = await create(api, body(sku, interval="every_n_days"))
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "validation_error"
    # The refused attempt left the key free for a corrected request.
    assert (await create(api, body(sku), key)).status_code == 201


async def test_updates_answer_with_validator_refusals(api, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    subscription_id = (await create(api, body(sku))).json()["id"]
    await first_renewal(api, subscription_id)

    not_paused = await api.post(f"/subscriptions/{subscription_id}/resume")
    assert not_paused.status_code == 409 and not_paused.json()["error"]["code"] == "subscription_not_paused"
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    past = await api.post(f"/subscriptions/{subscription_id}/pause", json={"until": yesterday})
    assert past.status_code == 422 and past.json()["error"]["code"] == "invalid_pause_until"
    bad_card = await api.post(f"/subscriptions/{subscription_id}/payment-method", json={"payment_method": "nope"})
    assert bad_card.status_code == 422 and bad_card.json()["error"]["code"] == "invalid_payment_method"

    paused = await api.post(f"/subscriptions/{subscription_id}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    cancelled = await api.post(f"/subscriptions/{subscription_id}/cancel", json={})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    resumed = await api.post(f"/subscriptions/{subscription_id}/resume")
    assert resumed.status_code == 409 and resumed.json()["error"]["code"] == "subscription_cancelled"

    audit = (await api.get("/subscriptions/" + subscription_id)).json()["events"]
    assert [e["type"] for e in audit][-2:] == ["paused", "cancelled"]
    assert (await api.get("/subscriptions/sub_nope")).status_code == 404


async def test_renewal_order_ships_without_a_second_capture_and_can_be_refunded(api, temporal_env, engine):
    sku = await make_sku(engine, price=2000, stock={await make_location(engine): 5})
    subscription = await first_renewal(api, (await create(api, body(sku))).json()["id"])
    (renewal,) = subscription["renewals"]
    payment_ref = f"{subscription['id']}:cycle-1"
    order = await order_with_shipments(api, renewal["order_id"], 1)
    assert order["status"] == "captured" and order["totals"]["discount"] == 0

    shipment = order["shipments"][0]
    assert (await api.post(f"/shipments/{shipment['id']}/packed")).status_code == 202
    await temporal_env.client.get_workflow_handle(f"shipment-{shipment['id']}").signal(
        ShipmentWorkflow.tracking_update,
        TrackingEvent(event_id="d1", status="delivered", occurred_at=datetime.now(UTC)))
    assert await temporal_env.client.get_workflow_handle(f"order-{renewal['order_id']}").result() == "delivered"
    async with engine.connect() as conn:
        kinds = (await conn.execute(select(payment_operations.c.kind, payment_operations.c.amount)
                                    .where(payment_operations.c.payment_ref == payment_ref))).all()
    assert kinds == [("charge", renewal["total"])], "the off-session charge was the only money movement"
    assert (await api.get(f"/orders/{renewal['order_id']}")).json()["status"] == "fulfilled"

    refund = await api.post(f"/orders/{renewal['order_id']}/refunds", headers={"Idempotency-Key": "r1"},
                            json={"amount": 500, "reason": "damaged"})
    assert refund.status_code == 200, refund.text


async def test_support_finds_a_customers_subscriptions_newest_first(api, api_as, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 20})
    email = f"lin-{uuid.uuid4().hex[:6]}@example.com"
    ids = [(await create(api, body(sku, email=email.upper() if n == 1 else email, interval=interval, n=n))).json()["id"]
           for interval, n in (("weekly", None), ("every_n_days", 10), ("monthly", None))]
    await create(api, body(sku, email="someone-else@example.com"))
    cancelled = await api.post(f"/subscriptions/{ids[0]}/cancel", json={})
    assert cancelled.status_code == 200, cancelled.text

    support, seen, after = api_as("support"), [], None
    while True:
        params = {"email": email, "limit": 2} | ({"after": after} if after else {})
        page = await support.get("/subscriptions", params=params)
        assert page.status_code == 200, page.text
        seen += page.json()["subscriptions"]
        if (after := page.json()["next_after"]) is None:
            break
    assert [s["id"] for s in seen] == ids[::-1], "newest first, the upper-case address included"
    assert [(s["interval"], s["n"]) for s in seen] == [("monthly", None), ("every_n_days", 10), ("weekly", None)]

    only_cancelled = (await support.get("/subscriptions", params={"email": email, "status": "cancelled"})).json()
    assert [s["id"] for s in only_cancelled["subscriptions"]] == [ids[0]]
    assert (await support.get("/subscriptions", params={"after": "sub_gone"})).json()["error"]["code"] == \
        "invalid_cursor"
    assert (await support.get("/subscriptions", params={"status": "sleeping"})).status_code == 422
    assert (await api_as("storefront").get("/subscriptions", params={"email": email})).status_code == 403
