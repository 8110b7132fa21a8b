"""What an order's fulfillment costs the Temporal server before it waits for packing (issue 13), on the dev
server: since the fulfillment-local-routing patch, loading and allocating are local activities (markers, no
server round trip), the routing search attributes are one upsert, and the confirmation email is sent
alongside the parcels' start instead of before allocating."""

from collections import Counter

import pytest_asyncio
from sqlalchemy import func, select
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from activities.fulfillment import FulfillmentActivities
from adapters.factory import Adapters
from adapters.local.email import OutboxEmailSender
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from db import fulfillment as fulfillment_store
from db.tables import reservations
from models import workflow_ids
from models.fulfillment import FulfillmentPolicy
from models.routing import DEFAULT_DISTANCES
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import cart_with, checkout_to_end, eventually
from worker import WORKFLOWS, build_activities
from workflows import search_attributes as sa


def _children_started(events) -> bool:
    """Every parcel the order started has started (none asked for yet counts as done)."""
    kinds = Counter(event.event_type for event in events)
    return (kinds[EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED]
            >= kinds[EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED])


@pytest_asyncio.fixture(scope="module")
async def worker(temporal_env, engine, task_queue, tmp_path_factory):
    """This module's worker: the local adapters, with the confirmation email answering only once the parcels
    its order asked for have started, as a real provider call (slower than the server's own child start)
    does. Whether the email's answer shares their workflow task or follows the wait is a race this keeps
    out of the count."""
    adapters = Adapters(payment=LocalPaymentGateway(), tax=LocalTaxCalculator(), shipping=LocalShippingCarrier(),
                        email=OutboxEmailSender(tmp_path_factory.mktemp("outbox")))
    activities = build_activities(engine, adapters)
    (real_send,) = [fn for fn in activities if fn.__temporal_activity_definition.name == "send_order_confirmation"]

    @activity.defn(name="send_order_confirmation")
    async def send_order_confirmation(order_id: str):
        handle = temporal_env.client.get_workflow_handle(activity.info().workflow_id)

        async def parcels_started():
            return _children_started((await handle.fetch_history()).events)

        await eventually(parcels_started)
        return await real_send(order_id)

    activities = [fn for fn in activities if fn is not real_send] + [send_order_confirmation]
    async with Worker(temporal_env.client, task_queue=task_queue, workflows=WORKFLOWS,
                      activities=activities) as running:
        yield running


def _until_waiting_for_packing(events) -> list | None:
    """The order's events up to its first timer (the authorization's expiry, watched while packing is
    awaited); None before it waits."""
    for index, event in enumerate(events):
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            return events[:index]
    return None


async def test_routing_an_order_costs_the_server_two_workflow_tasks_and_one_activity_task(
        api, temporal_env, engine):
    location = await make_location(engine)
    cart_id = await cart_with(api, {await make_sku(engine, stock={location: 2}): 1})
    done = await checkout_to_end(api, temporal_env.client, cart_id)
    assert done["status"] == "completed", done
    handle = temporal_env.client.get_workflow_handle(workflow_ids.order(done["order_id"]))

    async def routed():
        return _until_waiting_for_packing(list((await handle.fetch_history()).events))

    events = await eventually(routed, what="the order to wait for packing")
    kinds = Counter(event.event_type for event in events)
    cost = {"workflow tasks": kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED],
            "activity tasks": [event.activity_task_scheduled_event_attributes.activity_type.name for event in events
                               if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED],
            "upserts": kinds[EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES]}  # the patch's version, routing
    assert cost["activity tasks"] == ["send_order_confirmation"], cost
    assert cost["workflow tasks"] <= 2 and cost["upserts"] <= 2, cost
    assert kinds[EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED] == 1
    described = await handle.describe()
    assert described.typed_search_attributes.get(sa.FULFILLMENT_STATUS) == "awaiting_shipment"
    assert described.typed_search_attributes.get(sa.SHIPMENT_COUNT) == 1
    assert described.typed_search_attributes.get(sa.ORDER_ID) == done["order_id"]


async def test_allocating_an_order_again_returns_the_same_plan_and_holds_nothing_more(api, temporal_env, engine):
    """A local activity reruns if the worker dies before its workflow task completes: allocate_order is
    idempotent per order."""
    location = await make_location(engine)
    cart_id = await cart_with(api, {await make_sku(engine, stock={location: 3}): 2})
    done = await checkout_to_end(api, temporal_env.client, cart_id)
    order_id = done["order_id"]
    activities = FulfillmentActivities(engine, None, FulfillmentPolicy(), DEFAULT_DISTANCES)

    async def held():
        async with engine.connect() as conn:
            return await conn.scalar(select(func.coalesce(func.sum(reservations.c.quantity), 0)).where(
                reservations.c.order_id == order_id, reservations.c.status != "released"))

    first = await activities.allocate_order(order_id)
    before = await held()
    again = await activities.allocate_order(order_id)

    assert again == first and len(first) == 1
    assert await held() == before == 2
    async with engine.connect() as conn:
        assert await fulfillment_store.planned_shipments(conn, order_id) == first
