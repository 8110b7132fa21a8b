"""Support and warehouse actions never hold a database connection while they wait on Temporal.

An update or signal can take seconds (the workflow validates, runs activities); a connection held
meanwhile is a pool slot, and a transaction held is row locks, taken from everyone else. The app here
runs on its own engine, so the pool's checked-out count at each Temporal call is the API's own.
"""

import uuid

import pytest_asyncio

from api.app import create_app
from db.engine import make_engine
from tests.conftest import api_client
from tests.integration.checkout_helpers import delivered, order_with_shipments, placed_order, refund
from workflows.shipment import ShipmentWorkflow


class PoolWatchingClient:
    """The real Temporal client, noting how many of the API's connections are out at each call."""

    def __init__(self, client, engine):
        self._client, self._pool, self.held = client, engine.sync_engine.pool, []

    def __getattr__(self, name):
        return getattr(self._client, name)

    def note(self, call: str) -> None:
        self.held.append((call, self._pool.checkedout()))

    def get_workflow_handle(self, *args, **kwargs):
        return _WatchedHandle(self._client.get_workflow_handle(*args, **kwargs), self)

    async def execute_update_with_start_workflow(self, *args, **kwargs):
        self.note("update_with_start")
        return await self._client.execute_update_with_start_workflow(*args, **kwargs)


class _WatchedHandle:
    def __init__(self, handle, watcher: PoolWatchingClient):
        self._handle, self._watcher = handle, watcher

    def __getattr__(self, name):
        return getattr(self._handle, name)

    async def execute_update(self, *args, **kwargs):
        self._watcher.note("update")
        return await self._handle.execute_update(*args, **kwargs)

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
