"""Fulfillment and shipment under provider faults (issue 11, items 2-5 and 8), on the time-skipping server.

Providers fail only at the edge: the local adapters wrapped to fail on demand, never more
lenient than the local ones. Each test also keeps the fresh history of the path it drives
(see ``keep_history``), so these paths are replayed by tests/integration/test_replay.py.
"""

import asyncio
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select, update
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

from adapters.factory import Adapters
from adapters.local.email import OutboxEmailSender
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from adapters.ports import ProviderUnavailable
from api.app import create_app
from config import Settings
from db import fulfillment as fulfillment_store
from db.tables import orders, payment_operations, shipments
from models.errors import DomainError
from models.fulfillment import TrackingEvent
from tests.factories import make_api_key, make_location, make_sku
from tests.helpers import eventually
from tests.integration.checkout_helpers import atp, cart_with, checkout_body, start_checkout
from tests.workflows.test_fulfillment_timeouts import HOUR, POLICY, finished, only_shipment, place_order, skip_until
from worker import WORKFLOWS, build_activities
from workflows import search_attributes as sa
from workflows.shipment import ShipmentWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
NO_EXPIRY = POLICY.model_copy(update={"authorization_ttl_seconds": 100 * HOUR})


class FaultyGateway(LocalPaymentGateway):
    """The local card simulator, with faults a test switches on; remembers what it did."""

    def __init__(self):
        super().__init__()
        self.void_failures = 0  # the next N voids answer 503
        self.void_refusal: DomainError | None = None
        self.capture_down = False
        self.capture_refusal: DomainError | None = None
        self.authorized: list[str] = []
        self.voided: list[str] = []
        self.captured: list[str] = []

    async def authorize(self, **kwargs):
        result = await super().authorize(**kwargs)
        if result.provider_ref not in self.authorized:
            self.authorized.append(result.provider_ref)
        return result

    async def void(self, *, provider_ref, **kwargs):
        if self.void_failures:
            self.void_failures -= 1
            raise ProviderUnavailable("payment API answered 503")
        if self.void_refusal:
            raise self.void_refusal
        self.voided.append(provider_ref)
        return await super().void(provider_ref=provider_ref, **kwargs)

    async def capture(self, *, provider_ref, **kwargs):
        if self.capture_down:
            raise ProviderUnavailable("payment API timed out")
        if self.capture_refusal:
            raise self.capture_refusal
        self.captured.append(provider_ref)
        return await super().capture(provider_ref=provider_ref, **kwargs)


class FlakyTax(LocalTaxCalculator):
    def __init__(self):
        self.down = False

    async def commit(self, **kwargs):
        if self.down:
            raise ProviderUnavailable("tax API answered 503")
        return await super().commit(**kwargs)


@pytest.fixture
def gateway():
    return FaultyGateway()


@pytest.fixture
def tax():
    return FlakyTax()


@pytest.fixture
async def stack(time_env, engine, database_url, gateway, tax, tmp_path_factory):
    """API + worker on the time-skipping server; ``stand_ins`` replace activities by name."""

    async def start(policy, stand_ins=()):
        queue = f"ts-{uuid.uuid4().hex[:8]}"
        adapters = Adapters(payment=gateway, tax=tax, shipping=LocalShippingCarrier(),
                            email=OutboxEmailSender(tmp_path_factory.mktemp("outbox"), "shop@example.com"))
        activities = build_activities(engine, adapters, policy)
        replaced = {fn.__temporal_activity_definition.name for fn in stand_ins}
        activities = [fn for fn in activities if fn.__temporal_activity_definition.name not in replaced]
        worker = Worker(time_env.client, task_queue=queue, workflows=WORKFLOWS, activities=[*activities, *stand_ins])
        app = create_app(Settings(environment="test", database_url=database_url, task_queue=queue),
                         engine=engine, temporal=time_env.client)
        api = AsyncClient(transport=ASGITransport(app=app), base_url="http://orderflow.test",
                          headers={"Authorization": f"Bearer {await make_api_key(engine, 'admin')}"})
        return worker, api

    return start


async def keep_history(env, workflow_id: str, name: str) -> None:
    """Replay the run's fresh history; RECORD_HISTORIES=1 saves it (once) for the replay test."""
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    replay = await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(history)
    assert replay.replay_failure is None, name
    target = HISTORIES / f"{name}.json"
    if os.environ.get("RECORD_HISTORIES") == "1" and not target.exists():
        target.write_text(history.to_json())


async def deliver(env, workflow_id: str) -> None:
    event = TrackingEvent(event_id="d1", status="delivered", occurred_at=datetime.now(UTC))
    await env.client.get_workflow_handle(workflow_id).signal(ShipmentWorkflow.tracking_update, event)


async def is_running(env, workflow_id: str) -> bool:
    description = await env.client.get_workflow_handle(workflow_id).describe()
    return description.status == WorkflowExecutionStatus.RUNNING


async def captures_of(engine, shipment_id: str) -> list:
    """The ledger's capture operations for one parcel (its key is derived from the shipment id)."""
    async with engine.connect() as conn:
        return (await conn.execute(select(payment_operations.c.idempotency_key, payment_operations.c.status).where(
            payment_operations.c.kind == "capture",
            payment_operations.c.idempotency_key.like(f"{shipment_id}:%")))).all()


async def test_a_failed_void_during_renewal_releases_the_old_hold_not_the_new_one(stack, time_env, engine, gateway):
    """Item 2: the retry of a failed void must void the expiring hold, never the fresh one."""
    worker, api = await stack(POLICY.model_copy(update={"on_authorization_expiry": "reauthorize"}))
    gateway.void_failures = 1
    async with worker, api:
        _, _, order_id = await place_order(api, time_env.client, engine)

        async def voided():
            return gateway.voided

        await skip_until(time_env, voided)
        # Renewals repeat every TTL while time runs: each void hits the hold just replaced.
        assert gateway.voided[0] == gateway.authorized[0], "the expiring hold is voided, not the fresh one"
        assert gateway.voided == gateway.authorized[:len(gateway.voided)]

        shipment = await only_shipment(time_env, engine, order_id)
        await api.post(f"/shipments/{shipment.id}/packed")
        await deliver(time_env, shipment.workflow_id)
        assert await finished(time_env, f"order-{order_id}") == "delivered"
        async with engine.connect() as conn:
            current = (await fulfillment_store.order_row(conn, order_id)).authorization_id
        assert gateway.captured == [current] and current not in gateway.voided
        await keep_history(time_env, f"order-{order_id}", "fulfillment_reauthorized")


async def test_unknown_capture_outcome_alerts_and_retries_the_same_key(stack, time_env, engine, gateway):
    """Item 4: a capture nobody answered may have happened: no refund, no capture_failed, same key."""
    worker, api = await stack(NO_EXPIRY)
    async with worker, api:
        sku, _, order_id = await place_order(api, time_env.client, engine)
        shipment = await only_shipment(time_env, engine, order_id)
        gateway.capture_down = True
        await api.post(f"/shipments/{shipment.id}/packed")

        async def alerted():
            return (await only_shipment(time_env, engine, order_id)).alert

        assert await skip_until(time_env, alerted) == "capture_unknown"
        row = await only_shipment(time_env, engine, order_id)
        assert row.label_id is not None and row.capture_amount is not None, "label kept, capture still owed"
        assert [op.status for op in await captures_of(engine, shipment.id)] == ["pending"]
        assert await is_running(time_env, shipment.workflow_id)

        gateway.capture_down = False
        retry = await api.post(f"/shipments/{shipment.id}/retry-carrier")  # ops: the provider is back
        assert retry.status_code == 202, retry.text
        await deliver(time_env, shipment.workflow_id)
        assert await finished(time_env, shipment.workflow_id) == "delivered"
        assert await captures_of(engine, shipment.id) == [(f"{shipment.id}:capture", "succeeded")]
        assert (await only_shipment(time_env, engine, order_id)).alert is None


async def test_refused_capture_refunds_the_label_and_frees_the_order_and_stock(stack, time_env, engine, gateway):
    """Item 4: a definite refusal gives the parcel up cleanly: cancellable order, stock back."""
    worker, api = await stack(NO_EXPIRY)
    gateway.capture_refusal = DomainError("the authorization has expired", code="authorization_expired")
    async with worker, api:
        sku, _, order_id = await place_order(api, time_env.client, engine, quantity=2)
        shipment = await only_shipment(time_env, engine, order_id)
        await api.post(f"/shipments/{shipment.id}/packed")

        assert await finished(time_env, shipment.workflow_id) == "capture_failed"
        row = await only_shipment(time_env, engine, order_id)
        assert row.alert == "capture_failed:authorization_expired"
        assert row.label_id is None, "the label is refunded"
        assert row.capture_amount is None, "the capture marker is cleared"
        async with engine.connect() as conn:
            assert not await fulfillment_store.any_capture_started(conn, order_id), "the order can be cancelled"
        assert await atp(api, sku) == 5, "the parcel's stock is released"
        shown = (await api.get(f"/orders/{order_id}")).json()["shipments"]
        assert [(s["captured"], s["alert"]) for s in shown] == [(0, "capture_failed:authorization_expired")]
        assert await finished(time_env, f"order-{order_id}") == "needs_attention"
        await keep_history(time_env, shipment.workflow_id, "shipment_capture_refused")


async def test_a_step_after_capture_that_keeps_failing_alerts_and_never_fails_the_parcel(stack, time_env, engine, tax):
    """Item 3: money was taken, so the tax commit retries for long, then alerts and waits for ops."""
    worker, api = await stack(NO_EXPIRY)
    async with worker, api:
        _, _, order_id = await place_order(api, time_env.client, engine)
        shipment = await only_shipment(time_env, engine, order_id)
        tax.down = True
        await api.post(f"/shipments/{shipment.id}/packed")
        assert await alert_at_rest(time_env, engine, order_id, shipment) == "tax_commit_failed:provider_unavailable"
        assert await is_running(time_env, shipment.workflow_id)
        assert await is_running(time_env, f"order-{order_id}")
        description = await time_env.client.get_workflow_handle(shipment.workflow_id).describe()
        assert description.typed_search_attributes.get(sa.FULFILLMENT_ALERT) == "tax_commit_failed:provider_unavailable"

        tax.down = False
        retry = await api.post(f"/shipments/{shipment.id}/retry-carrier")
        assert retry.status_code == 202, retry.text
        await deliver(time_env, shipment.workflow_id)
        assert await finished(time_env, f"order-{order_id}") == "delivered"
        assert (await only_shipment(time_env, engine, order_id)).alert is None


async def alert_at_rest(env, engine, order_id: str, shipment) -> str | None:
    """Let time run until the order's only parcel alerts ops or ends; its alert then."""

    async def alerted_or_ended():
        row = await only_shipment(env, engine, order_id)
        return row.alert or not await is_running(env, shipment.workflow_id)

    await skip_until(env, alerted_or_ended)
    return (await only_shipment(env, engine, order_id)).alert


def packing_record_refused(refusing: set[str], engine):
    """A stand-in mark_packed that the database refuses while ``refusing`` is not empty."""
    from activities.fulfillment import ShipmentActivities

    real = ShipmentActivities(engine, None, None)

    @activity.defn(name="mark_packed")
    async def mark_packed(shipment_id: str) -> None:
        if refusing:
            raise ApplicationError("the packing station's record is corrupt", type="corrupt_record",
                                   non_retryable=True)
        await real.mark_packed(shipment_id)

    return mark_packed


async def test_a_refused_packing_record_alerts_ops_and_resumes_on_their_retry(stack, time_env, engine):
    """The parcel is packed on the shelf; its record failing for good waits on an alert, never fails it."""
    refusing = {"corrupt"}
    worker, api = await stack(NO_EXPIRY, stand_ins=[packing_record_refused(refusing, engine)])
    async with worker, api:
        _, _, order_id = await place_order(api, time_env.client, engine)
        shipment = await only_shipment(time_env, engine, order_id)
        await api.post(f"/shipments/{shipment.id}/packed")
        assert await alert_at_rest(time_env, engine, order_id, shipment) == "pack_failed:corrupt_record"
        assert await is_running(time_env, shipment.workflow_id)

        refusing.clear()
        retry = await api.post(f"/shipments/{shipment.id}/retry-carrier")  # ops: the record is repaired
        assert retry.status_code == 202, retry.text
        await deliver(time_env, shipment.workflow_id)
        assert await finished(time_env, f"order-{order_id}") == "delivered"
        assert (await only_shipment(time_env, engine, order_id)).alert is None
        await keep_history(time_env, shipment.workflow_id, "shipment_pack_failed")


async def test_a_failed_shipment_leaves_its_sibling_running(stack, time_env, engine):
    """Item 3: one parcel's workflow failing neither fails the order nor terminates the other parcel.

    No step failure ends a parcel's workflow any more (each waits on a visible alert), so the parcel
    ends the way that remains: ops cancel its workflow (e.g. from the Temporal UI)."""
    # No expiry within reach: while a result is awaited the clock runs on, and nothing may cancel the order.
    worker, api = await stack(NO_EXPIRY.model_copy(update={"authorization_ttl_seconds": 10_000 * HOUR}))
    async with worker, api:
        east, west = await make_location(engine), await make_location(engine, region="us-west")
        skus = [await make_sku(engine, stock={east: 3}), await make_sku(engine, stock={west: 3})]
        started = await start_checkout(api, checkout_body(await cart_with(api, {sku: 1 for sku in skus})))
        result = await finished(time_env, f"checkout-{started.json()['checkout_id']}")
        order_id = result["order_id"]

        failing, survivor = await started_shipments(time_env, engine, order_id, 2)
        await time_env.client.get_workflow_handle(failing.workflow_id).cancel()
        with pytest.raises(WorkflowFailureError):
            await finished(time_env, failing.workflow_id)

        assert await is_running(time_env, survivor.workflow_id), "the sibling lives on"
        await api.post(f"/shipments/{survivor.id}/packed")
        await deliver(time_env, survivor.workflow_id)
        assert await finished(time_env, survivor.workflow_id) == "delivered"
        assert await finished(time_env, f"order-{order_id}") == "needs_attention"


async def started_shipments(env, engine, order_id: str, count: int) -> list:
    """The order's shipments once their workflows run (polled with the test clock held)."""
    async def all_started():
        async with engine.connect() as conn:
            rows = (await conn.execute(select(shipments).where(shipments.c.order_id == order_id))).all()
        return rows if len(rows) == count and all([await _exists(env, row.workflow_id) for row in rows]) else None

    return await eventually(all_started, what=f"{count} shipments of order {order_id} to start")


async def _exists(env, workflow_id: str) -> bool:
    try:
        await env.client.get_workflow_handle(workflow_id).describe()
        return True
    except RPCError:
        return False


def capture_wins_the_race(engine, real_cancel_order):
    """A stand-in cancel_order: a parcel's capture reserves its amount just before the cancel runs."""

    @activity.defn(name="cancel_order")
    async def cancel_order(order_id: str, reason: str, event_id: str) -> str:
        async with engine.begin() as conn:
            total = select(orders.c.total).where(orders.c.id == order_id).scalar_subquery()
            await conn.execute(update(shipments).where(shipments.c.order_id == order_id).values(capture_amount=total))
        return await real_cancel_order(order_id, reason, event_id)

    return cancel_order


async def test_an_expiry_cancel_refused_by_a_capture_leaves_the_order_running(stack, time_env, engine):
    """Item 5: the capture won, so the order carries on as a normal one; ops see why it was not cancelled."""
    from activities.fulfillment import FulfillmentActivities

    real = FulfillmentActivities(engine, None, POLICY, {})
    worker, api = await stack(POLICY, stand_ins=[capture_wins_the_race(engine, real.cancel_order)])
    async with worker, api:
        _, _, order_id = await place_order(api, time_env.client, engine)
        shipment = await only_shipment(time_env, engine, order_id)
        order_handle = time_env.client.get_workflow_handle(f"order-{order_id}")

        # A bounded skip past the expiry: unbounded, the server would race on to the run timeout
        # (nothing else is pending while the parcel waits to be packed).
        await time_env.sleep(2 * HOUR)
        description = await order_handle.describe()
        assert description.typed_search_attributes.get(sa.FULFILLMENT_ALERT) == "expiry_cancel_refused:already_shipped"
        assert await is_running(time_env, shipment.workflow_id)

        await api.post(f"/shipments/{shipment.id}/packed")
        await deliver(time_env, shipment.workflow_id)
        assert await finished(time_env, f"order-{order_id}") == "delivered"


def cancel_answer_lost(real_cancel_order):
    """A stand-in cancel_order whose every answer is lost after the database committed it."""

    @activity.defn(name="cancel_order")
    async def cancel_order(order_id: str, reason: str, event_id: str) -> str:
        await real_cancel_order(order_id, reason, event_id)
        raise ApplicationError("connection dropped before the commit was acknowledged", type="connection_lost")

    return cancel_order


async def test_an_unanswered_expiry_cancel_is_looked_up_and_completed(stack, time_env, engine, gateway):
    """Item 8: a cancel nobody answered may have committed; the database is asked, never taken as refused."""
    from activities.fulfillment import FulfillmentActivities

    real = FulfillmentActivities(engine, None, POLICY, {})
    worker, api = await stack(POLICY, stand_ins=[cancel_answer_lost(real.cancel_order)])
    async with worker, api:
        sku, _, order_id = await place_order(api, time_env.client, engine, quantity=2)

        # Hang guard: before the fix the order took the lost answer as a refusal and waited on its parcel.
        assert await asyncio.wait_for(finished(time_env, f"order-{order_id}"), 120) == "cancelled"
        shipment = await only_shipment(time_env, engine, order_id)
        assert await finished(time_env, shipment.workflow_id) == "cancelled"
        assert gateway.voided == gateway.authorized, "the cancelled order's hold is released"
        assert await atp(api, sku) == 5
        await keep_history(time_env, f"order-{order_id}", "fulfillment_cancel_unanswered")


async def test_a_failed_void_does_not_stop_the_rest_of_the_cancel(stack, time_env, engine, gateway):
    """Item 8: stock released, parcels stopped, order cancelled; the void left undone is an alert."""
    worker, api = await stack(POLICY)
    gateway.void_refusal = DomainError("no such payment intent", code="resource_missing")
    async with worker, api:
        sku, _, order_id = await place_order(api, time_env.client, engine, quantity=2)

        assert await finished(time_env, f"order-{order_id}") == "cancelled"
        shipment = await only_shipment(time_env, engine, order_id)
        assert await finished(time_env, shipment.workflow_id) == "cancelled"
        assert await atp(api, sku) == 5
        order = (await api.get(f"/orders/{order_id}")).json()
        assert order["status"] == "cancelled"
        alerts = [e["data"]["alert"] for e in order["events"] if e["type"] == "order.alert"]
        assert alerts == ["cancel_incomplete:void"]
        description = await time_env.client.get_workflow_handle(f"order-{order_id}").describe()
        assert description.typed_search_attributes.get(sa.FULFILLMENT_ALERT) == "cancel_incomplete:void"
        assert description.typed_search_attributes.get(sa.FULFILLMENT_STATUS) == "cancelled"


async def test_authorization_expiry_cancel_history(stack, time_env, engine):
    """Item 11: the cancel path as it runs today, kept for replay."""
    worker, api = await stack(POLICY)
    async with worker, api:
        _, _, order_id = await place_order(api, time_env.client, engine)
        assert await finished(time_env, f"order-{order_id}") == "cancelled"
        await keep_history(time_env, f"order-{order_id}", "fulfillment_authorization_expired")


def allocation_refused(refusing: set[str], engine):
    """A stand-in allocate_order the database refuses while ``refusing`` is not empty."""
    from activities.fulfillment import FulfillmentActivities
    from models.routing import DEFAULT_DISTANCES

    real = FulfillmentActivities(engine, None, POLICY, DEFAULT_DISTANCES)

    @activity.defn(name="allocate_order")
    async def allocate_order(order_id: str):
        if refusing:
            raise ApplicationError("stock ledger is locked for a stock-take", type="stock_take", non_retryable=True)
        return await real.allocate_order(order_id)

    return allocate_order


async def test_routing_that_keeps_failing_alerts_ops_and_resumes_on_their_retry(stack, time_env, engine):
    """Item 3 (fulfillment): allocation refused is an alert the order waits on, not a dead order."""
    from workflows.fulfillment import FulfillmentWorkflow

    refusing = {"stock-take"}
    worker, api = await stack(NO_EXPIRY, stand_ins=[allocation_refused(refusing, engine)])
    async with worker, api:
        sku = await make_sku(engine, stock={await make_location(engine): 5})
        started = await start_checkout(api, checkout_body(await cart_with(api, {sku: 1})))
        order_id = (await finished(time_env, f"checkout-{started.json()['checkout_id']}"))["order_id"]
        handle = time_env.client.get_workflow_handle(f"order-{order_id}")

        async def alerted_or_ended():
            description = await handle.describe()
            return (description.typed_search_attributes.get(sa.FULFILLMENT_ALERT)
                    or description.status != WorkflowExecutionStatus.RUNNING)

        await skip_until(time_env, alerted_or_ended)
        description = await handle.describe()
        assert description.typed_search_attributes.get(sa.FULFILLMENT_ALERT) == "allocation_failed:stock_take"
        assert description.status == WorkflowExecutionStatus.RUNNING

        refusing.clear()
        await handle.signal(FulfillmentWorkflow.retry)
        shipment = await only_shipment(time_env, engine, order_id)
        assert (await handle.describe()).typed_search_attributes.get(sa.FULFILLMENT_ALERT) is None
        await api.post(f"/shipments/{shipment.id}/packed")
        await deliver(time_env, shipment.workflow_id)
        assert await finished(time_env, f"order-{order_id}") == "delivered"
        await keep_history(time_env, f"order-{order_id}", "fulfillment_local_routing_alerted")


async def test_the_single_step_renewal_of_older_orders_retries_onto_the_replaced_hold(stack, time_env, engine, gateway):
    """Item 2 for orders started before the steps: the legacy activity's retry voids the replaced hold."""
    from activities.fulfillment import FulfillmentActivities
    from activities.payments_service import PaymentService

    worker, api = await stack(NO_EXPIRY)
    async with worker, api:
        _, _, order_id = await place_order(api, time_env.client, engine)
    renewals = FulfillmentActivities(engine, PaymentService(engine, gateway), POLICY, {})
    gateway.void_failures = 1

    with pytest.raises(ProviderUnavailable):  # switched to the new hold, then the void failed
        await ActivityEnvironment().run(renewals.renew_authorization, order_id, 1)
    assert await ActivityEnvironment().run(renewals.renew_authorization, order_id, 1) == "renewed"

    original, fresh = gateway.authorized
    assert gateway.voided == [original]
    async with engine.connect() as conn:
        assert (await fulfillment_store.order_row(conn, order_id)).authorization_id == fresh
