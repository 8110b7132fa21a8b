"""HTTP helpers for driving a checkout like a storefront would."""

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from httpx import AsyncClient
from temporalio.client import Client

from models.fulfillment import TrackingEvent
from tests.factories import make_location, make_sku
from tests.helpers import eventually  # also imported from here by many tests
from workflows.shipment import ShipmentWorkflow

STRIPE_SECRET = "whsec_test_secret"  # the webhook secret test modules configure

ADDRESS = {"name": "Ada Lovelace", "line1": "1 Main St", "city": "San Francisco", "region": "CA",
           "postal_code": "94105", "country": "US"}


# What a storefront keeps for its guests: each cart's X-Cart-Token, which a storefront key must send back
# about that cart and its checkout (api/ownership.py); other roles need none.
_cart_tokens: dict[str, str] = {}


def cart_headers(cart_id: str) -> dict[str, str]:
    return {"X-Cart-Token": _cart_tokens[cart_id]} if cart_id in _cart_tokens else {}


async def cart_with(api: AsyncClient, lines: dict[str, int], currency: str = "USD") -> str:
    created = await api.post("/carts", json={"currency": currency})
    assert created.status_code == 201, created.text
    cart_id = created.json()["id"]
    _cart_tokens[cart_id] = created.headers["X-Cart-Token"]
    for sku, quantity in lines.items():
        added = await api.post(f"/carts/{cart_id}/lines", json={"sku": sku, "quantity": quantity},
                               headers=cart_headers(cart_id))
        assert added.status_code == 201, added.text
    return cart_id


def stripe_js_card() -> str:
    """A card as Stripe.js hands it over: a PaymentMethod of its own, unlike the reusable test tokens (pm_card_…),
    so a later charge works only through the provider customer it was saved for."""
    return f"pm_1{uuid.uuid4().hex[:23]}"


# The cards a test of a later charge (re-authorization, an edit's new hold, an exchange's difference) runs with:
# Stripe's test token, reusable as it is, and a Stripe.js card, usable again only as checkout saved it.
REUSED_CARDS = [pytest.param("pm_card_visa", id="test-token"), pytest.param("stripe.js", id="stripe-js-card")]


def reused_card(param: str) -> str:
    return stripe_js_card() if param == "stripe.js" else param


def checkout_body(cart_id: str, payment_method: str = "pm_card_visa", **overrides) -> dict:
    return {"cart_id": cart_id, "email": "ada@example.com", "shipping_address": ADDRESS,
            "payment_method": payment_method, **overrides}


async def start_checkout(api: AsyncClient, body: dict, key: str | None = None):
    headers = {"Idempotency-Key": key or str(uuid.uuid4()), **cart_headers(body.get("cart_id", ""))}
    started = await api.post("/checkouts", json=body, headers=headers)
    if started.status_code == 202 and body.get("cart_id") in _cart_tokens:
        _cart_tokens[started.json()["checkout_id"]] = _cart_tokens[body["cart_id"]]
    return started


async def finished_checkout(api: AsyncClient, temporal: Client, checkout_id: str, cart_id: str | None = None) -> dict:
    """Wait for the checkout workflow to end (no polling), then read the API's view of it."""
    await temporal.get_workflow_handle(f"checkout-{checkout_id}").result()
    response = await api.get(f"/checkouts/{checkout_id}", headers=cart_headers(cart_id or checkout_id))
    assert response.status_code == 200, response.text
    return response.json()


async def checkout_to_end(api: AsyncClient, temporal: Client, cart_id: str, **kwargs) -> dict:
    started = await start_checkout(api, checkout_body(cart_id, **kwargs))
    assert started.status_code == 202, started.text
    return await finished_checkout(api, temporal, started.json()["checkout_id"])


async def atp(api: AsyncClient, sku: str) -> int:
    response = await api.get(f"/inventory/{sku}")
    assert response.status_code == 200, response.text
    return response.json()["atp"]


async def workflow_result(temporal: Client, workflow_id: str, seconds: float = 60):
    """A workflow's result, failing the test instead of hanging if it never finishes."""
    return await asyncio.wait_for(temporal.get_workflow_handle(workflow_id).result(), seconds)


async def order_with_shipments(api, order_id: str, count: int) -> dict:
    async def probe():
        order = (await api.get(f"/orders/{order_id}")).json()
        return order if len(order["shipments"]) == count else None

    return await eventually(probe, what=f"order {order_id} to get {count} shipments")


def delivered(event_id: str) -> TrackingEvent:
    return TrackingEvent(event_id=event_id, status="delivered", occurred_at=datetime(2026, 11, 25, tzinfo=UTC))


async def placed_order(api, temporal_env, engine, lines: dict[int, int] | None = None,
                       **checkout) -> tuple[dict, list[str]]:
    location = await make_location(engine)
    skus = [await make_sku(engine, price=price, stock={location: 10}) for price in (lines or {2000: 1})]
    cart_id = await cart_with(api, dict(zip(skus, (lines or {2000: 1}).values())))
    return await checkout_to_end(api, temporal_env.client, cart_id, **checkout), skus


async def delivered_order(api, temporal_env, engine, lines=None, **checkout) -> tuple[dict, list[str]]:
    done, skus = await placed_order(api, temporal_env, engine, lines, **checkout)
    shipment = (await order_with_shipments(api, done["order_id"], 1))["shipments"][0]
    await api.post(f"/shipments/{shipment['id']}/packed")
    await temporal_env.client.get_workflow_handle(f"shipment-{shipment['id']}").signal(
        ShipmentWorkflow.tracking_update, delivered(f"d-{shipment['id']}"))
    await temporal_env.client.get_workflow_handle(f"order-{done['order_id']}").result()
    return done, skus


def refund(api, order_id, body, key=None):
    return api.post(f"/orders/{order_id}/refunds", json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


def stripe_event(kind: str, obj: dict, event_id: str | None = None) -> bytes:
    return json.dumps({"id": event_id or f"evt_{uuid.uuid4().hex}", "object": "event", "type": kind,
                       "data": {"object": obj}}).encode()


def stripe_headers(payload: bytes, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return {"stripe-signature": f"t={timestamp},v1={signature}", "content-type": "application/json"}


async def post_stripe(api, payload: bytes, headers: dict | None = None):
    return await api.post("/webhooks/stripe", content=payload, headers=headers or stripe_headers(payload))
