"""HTTP helpers for driving a checkout like a storefront would."""

import asyncio
import uuid

from httpx import AsyncClient
from temporalio.client import Client

ADDRESS = {"name": "Ada Lovelace", "line1": "1 Main St", "city": "San Francisco", "region": "CA",
           "postal_code": "94105", "country": "US"}


async def cart_with(api: AsyncClient, lines: dict[str, int], currency: str = "USD") -> str:
    created = await api.post("/carts", json={"currency": currency})
    assert created.status_code == 201, created.text
    cart_id = created.json()["id"]
    for sku, quantity in lines.items():
        added = await api.post(f"/carts/{cart_id}/lines", json={"sku": sku, "quantity": quantity})
        assert added.status_code == 201, added.text
    return cart_id


def checkout_body(cart_id: str, payment_method: str = "pm_card_visa", **overrides) -> dict:
    return {"cart_id": cart_id, "email": "ada@example.com", "shipping_address": ADDRESS,
            "payment_method": payment_method, **overrides}


async def start_checkout(api: AsyncClient, body: dict, key: str | None = None):
    return await api.post("/checkouts", json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


async def finished_checkout(api: AsyncClient, temporal: Client, checkout_id: str) -> dict:
    """Wait for the checkout workflow to end (no polling), then read the API's view of it."""
    await temporal.get_workflow_handle(f"checkout-{checkout_id}").result()
    response = await api.get(f"/checkouts/{checkout_id}")
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
