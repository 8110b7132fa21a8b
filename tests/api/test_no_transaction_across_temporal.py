"""Handlers never hold a database connection while they wait on Temporal.

An update or signal can take seconds (the workflow validates, runs activities), and so can a start when
Temporal is slow; a connection held meanwhile is a pool slot, and a transaction held is row locks, taken
from everyone else. The app here runs on its own engine, so the pool's checked-out count at each Temporal
call is the API's own. Starts (checkout, return, subscription) claim and commit first: a start that fails
records nothing, and the client's retry with the same key starts it.
"""

import uuid

import pytest_asyncio
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from db import checkouts, claims
from db.engine import make_engine
from services.checkout import checkout_ids
from services.subscriptions import subscription_ids
from tests.conftest import api_client
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import (
    cart_headers, cart_with, checkout_body, delivered, delivered_order, finished_checkout, order_with_shipments,
    placed_order, refund,
)
from tests.integration.test_subscriptions_api import body as subscription_body
from workflows.shipment import ShipmentWorkflow


class PoolWatchingClient:
    """The real Temporal client, noting how many of the API's connections are out at each call;
    ``failing_starts`` workflow starts fail first, as when Temporal cannot be reached (and with
    ``blind``, asking whether a workflow exists fails too)."""

    def __init__(self, client, engine):
        self._client, self._pool, self.held = client, engine.sync_engine.pool, []
        self.failing_starts, self.blind = 0, False

    def __getattr__(self, name):
        return getattr(self._client, name)

    def note(self, call: str) -> None:
        self.held.append((call, self._pool.checkedout()))

    async def start_workflow(self, *args, **kwargs):
        self.note("start")
        if self.failing_starts:
            self.failing_starts -= 1
            raise unreachable()
        return await self._client.start_workflow(*args, **kwargs)

    def starts(self) -> list[tuple[str, int]]:
        return [call for call in self.held if call[0] == "start"]

    def get_workflow_handle(self, *args, **kwargs):
        return _WatchedHandle(self._client.get_workflow_handle(*args, **kwargs), self)

    async def execute_update_with_start_workflow(self, *args, **kwargs):
        self.note("update_with_start")
        return await self._client.execute_update_with_start_workflow(*args, **kwargs)


def unreachable() -> RPCError:
    return RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")


class _WatchedHandle:
    def __init__(self, handle, watcher: PoolWatchingClient):
        self._handle, self._watcher = handle, watcher

    def __getattr__(self, name):
        return getattr(self._handle, name)

    async def execute_update(self, *args, **kwargs):
        self._watcher.note("update")
        return await self._handle.execute_update(*args, **kwargs)

    async def describe(self, *args, **kwargs):
        if self._watcher.blind:
            raise unreachable()
        return await self._handle.describe(*args, **kwargs)

    async def signal(self, *args, **kwargs):
        self._watcher.note("signal")
        return await self._handle.signal(*args, **kwargs)


@pytest_asyncio.fixture(scope="module")
async def watched(settings, database_url, temporal_env, worker, role_keys):
    engine = make_engine(database_url, pool_size=2)
    watcher = PoolWatchingClient(temporal_env.client, engine)
    client = api_client(create_app(settings, engine=engine, temporal=watcher), role_keys["admin"])
    yield client, watcher
    await client.aclose()
    await engine.dispose()


async def test_packing_refunding_and_deciding_a_return_hold_no_connection_across_temporal(
        api, watched, temporal_env, engine):
    client, watcher = watched
    done, (sku,) = await placed_order(api, temporal_env, engine)
    order_id = done["order_id"]
    shipment_id = (await order_with_shipments(api, order_id, 1))["shipments"][0]["id"]

    assert (await client.post(f"/shipments/{shipment_id}/packed")).status_code == 202
    await temporal_env.client.get_workflow_handle(f"shipment-{shipment_id}").signal(
        ShipmentWorkflow.tracking_update, delivered(f"d-{shipment_id}"))
    await temporal_env.client.get_workflow_handle(f"order-{order_id}").result()
    refunded = await refund(client, order_id, {"amount": 100, "reason": "goodwill"})
    assert refunded.status_code == 200, refunded.text
    rma = (await api.post(f"/orders/{order_id}/returns", headers={"Idempotency-Key": str(uuid.uuid4())},
                          json={"lines": [{"sku": sku, "quantity": 1, "reason": "no_longer_needed"}]})).json()
    assert (await client.post(f"/returns/{rma['id']}/approve", json={"note": "ok"})).status_code == 200

    assert [call for call, _ in watcher.held] == ["signal", "update_with_start", "update"]
    assert watcher.held == [("signal", 0), ("update_with_start", 0), ("update", 0)]


async def test_cancelling_holds_no_connection_across_the_update(api, watched, temporal_env, engine):
    client, watcher = watched
    watcher.held.clear()
    done, _ = await placed_order(api, temporal_env, engine)

    cancelled = await client.post(f"/orders/{done['order_id']}/cancel", json={"reason": "customer asked"})

    assert cancelled.status_code == 200, cancelled.text
    assert watcher.held == [("update", 0)]


async def _return_request(client, order_id: str, sku: str, key: str):
    return await client.post(f"/orders/{order_id}/returns", headers={"Idempotency-Key": key},
                             json={"lines": [{"sku": sku, "quantity": 1, "reason": "no_longer_needed"}]})


async def test_starting_a_checkout_a_return_and_a_subscription_holds_no_connection(
        api, watched, temporal_env, engine):
    client, watcher = watched
    done, (sku,) = await delivered_order(api, temporal_env, engine)
    watcher.held.clear()
    cart_id = await cart_with(api, {sku: 1})

    started = await client.post("/checkouts", json=checkout_body(cart_id),
                                headers={"Idempotency-Key": str(uuid.uuid4()), **cart_headers(cart_id)})
    returned = await _return_request(client, done["order_id"], sku, str(uuid.uuid4()))
    subscribed = await client.post("/subscriptions", json=subscription_body(sku),
                                   headers={"Idempotency-Key": str(uuid.uuid4())})

    assert [r.status_code for r in (started, returned, subscribed)] == [202, 201, 201], \
        [r.text for r in (started, returned, subscribed)]
    assert watcher.starts() == [("start", 0)] * 3


async def test_a_checkout_whose_start_failed_is_started_by_a_retry_with_the_same_key(
        api, watched, temporal_env, engine):
    client, watcher = watched
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    cart_id = await cart_with(api, {sku: 1})
    key, headers = str(uuid.uuid4()), cart_headers(cart_id)
    checkout_id = checkout_ids(key)[0]
    watcher.failing_starts = 1

    failed = await client.post("/checkouts", json=checkout_body(cart_id), headers={"Idempotency-Key": key, **headers})

    assert failed.status_code == 503, failed.text
    assert failed.json()["error"]["code"] == "workflow_start_failed" and int(failed.headers["Retry-After"]) > 0
    assert (await api.get(f"/checkouts/{checkout_id}", headers=headers)).status_code == 404, "nothing recorded"

    retried = await client.post("/checkouts", json=checkout_body(cart_id), headers={"Idempotency-Key": key, **headers})
    assert retried.status_code == 202, retried.text
    assert retried.json()["checkout_id"] == checkout_id and "Idempotent-Replayed" not in retried.headers
    assert (await finished_checkout(api, temporal_env.client, checkout_id, cart_id))["status"] == "completed"

    replayed = await client.post("/checkouts", json=checkout_body(cart_id), headers={"Idempotency-Key": key, **headers})
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert (replayed.json()["checkout_id"], replayed.json()["status"]) == (checkout_id, "completed")
    other = await client.post("/checkouts", json=checkout_body(cart_id, email="grace@example.com"),
                              headers={"Idempotency-Key": key, **headers})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"


async def test_a_return_whose_start_failed_is_started_by_a_retry(api, watched, temporal_env, engine):
    client, watcher = watched
    done, (sku,) = await delivered_order(api, temporal_env, engine)
    key = str(uuid.uuid4())
    watcher.failing_starts = 1

    failed = await _return_request(client, done["order_id"], sku, key)

    assert failed.status_code == 503 and failed.json()["error"]["code"] == "workflow_start_failed", failed.text
    assert (await api.get(f"/orders/{done['order_id']}/returns")).json() == [], "nothing recorded"
    retried = await _return_request(client, done["order_id"], sku, key)
    assert retried.status_code == 201, retried.text
    rma_id = retried.json()["id"]
    assert (await temporal_env.client.get_workflow_handle(f"return-{rma_id}").describe()).status == WorkflowExecutionStatus.RUNNING
    assert (await _return_request(client, done["order_id"], sku, key)).json()["id"] == rma_id


async def test_a_subscription_whose_start_failed_is_started_by_a_retry_with_the_same_key(
        api, watched, temporal_env, engine):
    client, watcher = watched
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    key = str(uuid.uuid4())
    subscription_id, workflow_id = subscription_ids(key)
    watcher.failing_starts = 1

    failed = await client.post("/subscriptions", json=subscription_body(sku), headers={"Idempotency-Key": key})

    assert failed.status_code == 503 and failed.json()["error"]["code"] == "workflow_start_failed", failed.text
    assert (await api.get(f"/subscriptions/{subscription_id}")).status_code == 404, "nothing recorded"
    retried = await client.post("/subscriptions", json=subscription_body(sku), headers={"Idempotency-Key": key})
    assert retried.status_code == 201, retried.text
    assert retried.json()["id"] == subscription_id and "Idempotent-Replayed" not in retried.headers
    assert (await temporal_env.client.get_workflow_handle(workflow_id).describe()).status == WorkflowExecutionStatus.RUNNING
    replayed = await client.post("/subscriptions", json=subscription_body(sku), headers={"Idempotency-Key": key})
    assert replayed.json()["id"] == subscription_id and replayed.headers["Idempotent-Replayed"] == "true"
    other = await client.post("/subscriptions", json=subscription_body(sku, interval="weekly"),
                              headers={"Idempotency-Key": key})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"


async def test_a_claim_kept_when_temporal_cannot_tell_is_started_by_the_retry(api, watched, temporal_env, engine):
    """A start whose outcome is unknown (Temporal down, or the answer lost) keeps the claim: deleting it
    could orphan a running checkout. The retry with the same key starts it, or finds it started."""
    client, watcher = watched
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    cart_id = await cart_with(api, {sku: 1})
    key = str(uuid.uuid4())
    headers = {"Idempotency-Key": key, **cart_headers(cart_id)}
    watcher.failing_starts, watcher.blind = 1, True
    try:
        failed = await client.post("/checkouts", json=checkout_body(cart_id), headers=headers)
    finally:
        watcher.blind = False

    assert failed.status_code == 503, failed.text
    retried = await client.post("/checkouts", json=checkout_body(cart_id), headers=headers)
    assert retried.status_code == 202 and retried.headers["Idempotent-Replayed"] == "true", retried.text
    done = await finished_checkout(api, temporal_env.client, checkout_ids(key)[0], cart_id)
    assert done["status"] == "completed"


async def test_a_released_claim_is_only_the_one_nobody_stamped_since(engine):
    """A failed attempt releases its claim only while no retry has stamped it (db/claims.py)."""
    key = str(uuid.uuid4())
    checkout_id, order_id, workflow_id = checkout_ids(key)
    async with engine.begin() as conn:
        _, created, first = await checkouts.claim(conn, checkout_id=checkout_id, order_id=order_id,
                                                  idempotency_key=key, request_hash="h", cart_id="cart_claimed",
                                                  email="ada@example.com", workflow_id=workflow_id)
    async with engine.begin() as conn:
        _, again, retry = await checkouts.claim(conn, checkout_id=checkout_id, order_id=order_id,
                                                idempotency_key=key, request_hash="h", cart_id="cart_claimed",
                                                email="ada@example.com", workflow_id=workflow_id)
    assert (created, again) == (True, False) and first != retry

    async with engine.begin() as conn:
        assert await claims.release(conn, "checkout", checkout_id, first) is False, "the retry's claim stays"
        assert await claims.release(conn, "checkout", checkout_id, retry) is True
        assert await claims.stamp(conn, "checkout", checkout_id) is None
