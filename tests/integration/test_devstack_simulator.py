"""`orderflow dev` simulates the outside world: an order is delivered by the local carrier's own
tracking webhooks, then returned and refunded, all over the stack's HTTP API and CLI."""

import json
import os
import subprocess
import uuid

import httpx
import pytest

from tests.helpers import eventually_blocking
from tests.integration.checkout_helpers import ADDRESS
from tests.integration.test_devstack import ORDERFLOW, REPO, _read_banner, dev_stack  # noqa: F401  (fixture)

DEADLINE = 90.0  # a hang guard: the whole flow takes a few seconds


@pytest.fixture
def quick_carrier(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("LOCAL_CARRIER_SCHEDULE", json.dumps({"in_transit": 0.5, "delivered": 0.5}))


@pytest.fixture
def stack(quick_carrier, dev_stack):  # noqa: F811  (quick_carrier first: the stack reads its environment)
    return dev_stack


def until(probe, what: str):
    """Poll another process's API until ``probe`` answers something truthy."""
    return eventually_blocking(probe, DEADLINE, interval=0.2, what=what)


def test_an_order_is_delivered_by_the_simulated_carrier_then_returned_and_refunded(stack):
    proc, lines, ports, tmp_path = stack
    banner = _read_banner(proc, lines, tmp_path)
    assert "local carrier reports tracking 1 s after shipping" in banner
    state = tmp_path / "state"
    assert "carrier" in json.loads((state / "devstack.json").read_text())["pids"]
    key = (state / "dev-api-key").read_text().strip()

    with httpx.Client(base_url=f"http://127.0.0.1:{ports['API_PORT']}", timeout=10,
                      headers={"Authorization": f"Bearer {key}"}) as api:
        order_id = _place_order(api)
        shipment_id = until(lambda: (api.get(f"/orders/{order_id}").json()["shipments"] or [{}])[0].get("id"),
                            "the order has a parcel")
        assert api.post(f"/shipments/{shipment_id}/packed").status_code in (200, 202)
        order = until(lambda: _with_parcel(api, order_id, "delivered"), "the carrier delivers the parcel")
        assert "shipment.delivered" in [event["type"] for event in order["events"]]

        again = _simulate(state, ports, "deliver", shipment_id)
        assert again.returncode == 0 and '{"status":"duplicate"}' in again.stdout, again

        rma = api.post(f"/orders/{order_id}/returns",
                       json={"lines": [{"sku": "TEE-BLK-M", "quantity": 1, "reason": "defective"}]})
        assert rma.status_code == 201, rma.text
        rma_id = rma.json()["id"]
        assert api.post(f"/returns/{rma_id}/approve", json={"note": "sorry"}).status_code == 200
        until(lambda: api.get(f"/returns/{rma_id}").json()["status"] == "awaiting_return", "return approved")
        assert api.post(f"/returns/{rma_id}/receive").status_code == 200
        until(lambda: api.get(f"/returns/{rma_id}").json()["status"] == "received", "return received")
        inspected = api.post(f"/returns/{rma_id}/inspect", json={"units": [
            {"sku": "TEE-BLK-M", "quantity": 1, "disposition": "refurbish"}]})
        assert inspected.status_code == 200, inspected.text
        until(lambda: api.get(f"/returns/{rma_id}").json()["status"] == "refunded", "return refunded")
        refunds = api.get(f"/orders/{order_id}/refunds").json()
        assert [r["amount"] for r in refunds] == [order["lines"][0]["line_total"] + order["lines"][0]["tax"]]


def _place_order(api: httpx.Client) -> str:
    cart_id = api.post("/carts", json={"currency": "USD"}).json()["id"]
    assert api.post(f"/carts/{cart_id}/lines", json={"sku": "TEE-BLK-M", "quantity": 1}).status_code == 201
    started = api.post("/checkouts", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
        "cart_id": cart_id, "email": "ada@example.com", "shipping_address": ADDRESS, "payment_method": "pm_card_visa"})
    assert started.status_code == 202, started.text
    checkout_id = started.json()["checkout_id"]
    checkout = until(lambda: (c := api.get(f"/checkouts/{checkout_id}").json())["status"] != "pending" and c,
                     "the checkout ends")
    assert checkout["status"] == "completed", checkout
    return checkout["order_id"]


def _with_parcel(api: httpx.Client, order_id: str, status: str) -> dict | None:
    order = api.get(f"/orders/{order_id}").json()
    return order if order["shipments"][0]["status"] == status else None


def _simulate(state, ports, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k.upper() not in ("DATABASE_URL", "TEMPORAL_ADDRESS")}
    env.update(STATE_DIR=str(state), API_PORT=str(ports["API_PORT"]), ENVIRONMENT="development")
    return subprocess.run([str(ORDERFLOW), "simulate", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)
