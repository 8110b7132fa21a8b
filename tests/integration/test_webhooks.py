"""Provider webhooks: signatures, inbox deduplication, and the signals they turn into."""

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.enums.v1 import EventType

from adapters.local.card_network import CardNetwork
from config import Settings
from db import payments as ledger
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import (
    STRIPE_SECRET,
    atp,
    cart_with,
    checkout_body,
    checkout_to_end,
    eventually,
    order_with_shipments,
    post_stripe,
    start_checkout,
    stripe_event,
    stripe_headers,
)
from workflows import search_attributes as sa

EASYPOST_SECRET = "easypost-webhook-secret"


@pytest.fixture(scope="module")
def settings(database_url, task_queue) -> Settings:
    return Settings(environment="test", database_url=database_url, task_queue=task_queue,
                    stripe_webhook_secret=STRIPE_SECRET, easypost_webhook_secret=EASYPOST_SECRET)


def easypost_event(tracking_code: str, status: str, event_id: str, created_at: str | None = None) -> bytes:
    stamped = {"created_at": created_at} if created_at else {}
    return json.dumps({"id": event_id, "object": "Event", "description": "tracker.updated", **stamped,
                       "result": {"object": "Tracker", "tracking_code": tracking_code, "status": status,
                                  "tracking_details": [{"status": status, "message": f"now {status}",
                                                        "datetime": "2026-11-24T10:00:00Z"}]}}).encode()


def easypost_headers(body: bytes, secret: str = EASYPOST_SECRET) -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hmac-signature": f"hmac-sha256-hex={digest}", "content-type": "application/json"}


async def signals_received(client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)


async def three_ds_checkout(api, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 4})
    started = await start_checkout(api, checkout_body(await cart_with(api, {sku: 1}),
                                                      payment_method="pm_card_authenticationRequired"))
    checkout_id = started.json()["checkout_id"]

    async def waiting():
        body = (await api.get(f"/checkouts/{checkout_id}")).json()
        return body if body["step"] == "requires_action" else None

    return sku, checkout_id, await eventually(waiting)


async def test_bad_or_missing_signatures_are_rejected(api):
    payload = stripe_event("payment_intent.succeeded", {"id": "pi_x"})
    forged = await post_stripe(api, payload, stripe_headers(payload, secret="whsec_wrong"))
    assert forged.status_code == 400 and forged.json()["error"]["code"] == "invalid_signature"
    unsigned = await api.post("/webhooks/stripe", content=payload)
    assert unsigned.status_code == 400
    body = easypost_event("X", "delivered", "evt_1")
    bad = await api.post("/webhooks/easypost", content=body, headers=easypost_headers(body, secret="nope"))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_signature"


async def test_webhooks_signed_too_far_in_the_future_are_rejected(api):
    """A valid signature with a signing time an hour ahead (Stripe's library only refuses old ones)."""
    payload = stripe_event("customer.created", {"id": "cus_future"})
    ahead = await post_stripe(api, payload, stripe_headers(payload, timestamp=int(time.time()) + 3600))
    assert ahead.status_code == 400 and ahead.json()["error"]["code"] == "invalid_signature"
    skewed = await post_stripe(api, payload, stripe_headers(payload, timestamp=int(time.time()) + 60))
    assert skewed.status_code == 200  # a minute of clock skew is within tolerance
    future = datetime.now(UTC) + timedelta(hours=1)
    body = easypost_event("X", "delivered", "evt_future", created_at=future.isoformat().replace("+00:00", "Z"))
    response = await api.post("/webhooks/easypost", content=body, headers=easypost_headers(body))
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_signature"


async def test_unknown_event_types_are_acknowledged_and_ignored(api):
    response = await post_stripe(api, stripe_event("customer.created", {"id": "cus_1"}))
    assert response.status_code == 200 and response.json() == {"status": "ignored"}


async def test_three_d_secure_waits_for_the_webhook_and_a_duplicate_signals_once(api, temporal_env, engine):
    _, checkout_id, waiting = await three_ds_checkout(api, engine)
    assert waiting["status"] == "pending"
    assert waiting["next_action"]["client_secret"].endswith("_secret_local")
    async with engine.connect() as conn:
        (authorize,) = [op for op in await ledger.operations_for(conn, checkout_id) if op.kind == "authorize"]
    assert authorize.status == "pending", "not authorized until the card holder authenticates"

    await CardNetwork(engine).answer_challenge(authorize.provider_ref, succeeded=True)  # the card holder
    payload = stripe_event("payment_intent.amount_capturable_updated", {"id": authorize.provider_ref})
    first, again = await post_stripe(api, payload), await post_stripe(api, payload)
    assert first.json() == {"status": "signalled"}
    assert again.json() == {"status": "duplicate"}

    result = await temporal_env.client.get_workflow_handle(f"checkout-{checkout_id}").result()
    assert result["status"] == "completed"
    assert await signals_received(temporal_env.client, f"checkout-{checkout_id}") == 1
    async with engine.connect() as conn:
        (authorize,) = [op for op in await ledger.operations_for(conn, checkout_id) if op.kind == "authorize"]
    assert authorize.status == "succeeded"


async def test_failed_authentication_fails_the_checkout_and_compensates(api, temporal_env, engine):
    sku, checkout_id, _ = await three_ds_checkout(api, engine)
    async with engine.connect() as conn:
        (authorize,) = [op for op in await ledger.operations_for(conn, checkout_id) if op.kind == "authorize"]
    await post_stripe(api, stripe_event("payment_intent.payment_failed", {"id": authorize.provider_ref}))

    result = await temporal_env.client.get_workflow_handle(f"checkout-{checkout_id}").result()
    assert result["status"] == "failed" and result["error"]["code"] == "payment_declined"
    assert await atp(api, sku) == 4
    async with engine.connect() as conn:
        kinds = {op.kind: op.status for op in await ledger.operations_for(conn, checkout_id)}
    assert kinds["void"] == "succeeded"


async def test_dispute_marks_the_order_disputed_once(api, temporal_env, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 4})
    done = await checkout_to_end(api, temporal_env.client, await cart_with(api, {sku: 1}))
    async with engine.connect() as conn:
        (authorize,) = [op for op in await ledger.operations_for(conn, done["checkout_id"]) if op.kind == "authorize"]
    dispute = {"id": f"dp_{uuid.uuid4().hex[:10]}", "object": "dispute", "payment_intent": authorize.provider_ref,
               "amount": 1000, "currency": "usd", "reason": "fraudulent"}
    payload = stripe_event("charge.dispute.created", dispute)
    assert (await post_stripe(api, payload)).json() == {"status": "dispute_recorded"}
    assert (await post_stripe(api, payload)).json() == {"status": "duplicate"}

    async def disputed_order():  # the dispute workflow records it, then waits for the close
        order = (await api.get(f"/orders/{done['order_id']}")).json()
        return order if order["status"] == "disputed" else None

    order = await eventually(disputed_order)
    assert order, "the order never became disputed"
    handle = temporal_env.client.get_workflow_handle(f"dispute-{dispute['id']}")
    description = await handle.describe()  # ops find it by the order, and see why at a glance
    assert description.typed_search_attributes.get(sa.ORDER_ID) == done["order_id"]
    assert await description.memo() == {"order_id": done["order_id"], "amount": 1000, "currency": "USD",
                                        "reason": "fraudulent"}
    assert [e["type"] for e in order["events"]].count("payment.disputed") == 1


async def test_easypost_tracking_reaches_the_shipment_once(api, temporal_env, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 4})
    done = await checkout_to_end(api, temporal_env.client, await cart_with(api, {sku: 1}))
    shipment = (await order_with_shipments(api, done["order_id"], 1))["shipments"][0]
    await api.post(f"/shipments/{shipment['id']}/packed")

    async def tracking_code():
        current = (await api.get(f"/orders/{done['order_id']}")).json()["shipments"][0]
        return current["tracking_code"] if current["status"] == "shipped" else None

    code = await eventually(tracking_code)
    assert code
    for event_id, status in (("evt_a", "in_transit"), ("evt_a", "in_transit"), ("evt_b", "delivered")):
        body = easypost_event(code, status, f"{event_id}-{shipment['id']}")
        response = await api.post("/webhooks/easypost", content=body, headers=easypost_headers(body))
        assert response.status_code == 200
    assert await temporal_env.client.get_workflow_handle(f"shipment-{shipment['id']}").result() == "delivered"
    assert await signals_received(temporal_env.client, f"shipment-{shipment['id']}") == 3  # packed + 2 distinct

    unknown = easypost_event("NO-SUCH-CODE", "delivered", "evt_unknown")
    response = await api.post("/webhooks/easypost", content=unknown, headers=easypost_headers(unknown))
    assert response.json() == {"status": "unknown_tracking_code"}
