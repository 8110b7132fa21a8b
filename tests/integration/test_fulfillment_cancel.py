"""Support cancels an order through POST /orders/{id}/cancel on the dev server (issue 11, items 11 and 12).

Routing is held open by a gate around the real ``allocate_order``, so "right after checkout,
while the order is being routed" is a state the test controls rather than a race it hopes to win.
"""

import asyncio

import pytest
import pytest_asyncio
from temporalio import activity
from temporalio.api.enums.v1 import EventType

from adapters.factory import Adapters
from adapters.local.email import OutboxEmailSender
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import atp, cart_with, checkout_to_end, eventually, order_with_shipments
from tests.workflows.test_fulfillment_faults import keep_history
from worker import WORKFLOWS, build_activities


@pytest.fixture(scope="module")
def routing_gate() -> asyncio.Event:
    gate = asyncio.Event()
    gate.set()
    return gate


@pytest_asyncio.fixture(scope="module")
async def worker(temporal_env, engine, task_queue, tmp_path_factory, routing_gate):
    """This module's worker: the local adapters, with routing waiting on ``routing_gate``."""
    from temporalio.worker import Worker

    adapters = Adapters(payment=LocalPaymentGateway(), tax=LocalTaxCalculator(), shipping=LocalShippingCarrier(),
                        email=OutboxEmailSender(tmp_path_factory.mktemp("outbox")))
    activities = build_activities(engine, adapters)
    (real_allocate,) = [fn for fn in activities if fn.__temporal_activity_definition.name == "allocate_order"]

    @activity.defn(name="allocate_order")
    async def allocate_order(order_id: str):
        await routing_gate.wait()
        return await real_allocate(order_id)

    activities = [fn for fn in activities if fn is not real_allocate] + [allocate_order]
    async with Worker(temporal_env.client, task_queue=task_queue, workflows=WORKFLOWS,
                      activities=activities) as running:
        yield running


async def _order(api, temporal_env, engine, quantity=2):
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    done = await checkout_to_end(api, temporal_env.client, await cart_with(api, {sku: quantity}))
    assert done["status"] == "completed", done
    return sku, done["order_id"]


async def test_cancel_right_after_checkout_waits_for_routing_then_applies(api, temporal_env, engine, routing_gate):
    routing_gate.clear()
    try:
        sku, order_id = await _order(api, temporal_env, engine)
        handle = temporal_env.client.get_workflow_handle(f"order-{order_id}")
        cancel = asyncio.create_task(api.post(f"/orders/{order_id}/cancel", json={"reason": "changed my mind"}))

        async def accepted_or_answered():
            history = await handle.fetch_history()
            return cancel.done() or any(event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
                                        for event in history.events)

        assert await eventually(accepted_or_answered)
        assert not cancel.done(), f"answered while routing: {cancel.result().text}"
    finally:
        routing_gate.set()
    response = await cancel
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert await handle.result() == "cancelled"
    order = (await api.get(f"/orders/{order_id}")).json()
    assert order["status"] == "cancelled"
    assert [s["status"] for s in order["shipments"]] == ["cancelled"]
    assert await atp(api, sku) == 5
    # Since the fulfillment-local-routing patch (fulfillment_cancelled_while_routing was recorded before it).
    await keep_history(temporal_env, f"order-{order_id}", "fulfillment_local_routing_cancelled_while_routing")


async def test_support_cancel_after_routing_then_a_second_cancel_is_refused(api, temporal_env, engine):
    sku, order_id = await _order(api, temporal_env, engine)
    await order_with_shipments(api, order_id, 1)

    response = await api.post(f"/orders/{order_id}/cancel", json={"reason": "duplicate order"})

    assert response.status_code == 200, response.text
    assert await temporal_env.client.get_workflow_handle(f"order-{order_id}").result() == "cancelled"
    again = await api.post(f"/orders/{order_id}/cancel", json={"reason": "duplicate order"})
    assert again.status_code == 409 and again.json()["error"]["code"] in ("already_cancelled", "order_not_cancellable")
    assert await atp(api, sku) == 5
    await keep_history(temporal_env, f"order-{order_id}", "fulfillment_cancelled_by_support")
