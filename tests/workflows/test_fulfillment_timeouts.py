"""Fulfillment timers measured in hours and days, run in seconds on the time-skipping server."""

import uuid
from datetime import UTC, datetime

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select
from temporalio.service import RPCError

from adapters.factory import Adapters
from adapters.local.email import OutboxEmailSender
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from adapters.ports import ProviderUnavailable
from api.app import create_app
from config import Settings
from db.tables import payment_operations, shipments
from models.fulfillment import FulfillmentPolicy, TrackingEvent
from tests.factories import make_api_key, make_location, make_sku
from tests.helpers import eventually
from tests.integration.checkout_helpers import (
    REUSED_CARDS, atp, cart_with, checkout_body, reused_card, start_checkout,
)
from worker import build_worker
from workflows import search_attributes as sa
from workflows.shipment import ShipmentWorkflow

HOUR = 3600
POLICY = FulfillmentPolicy(authorization_ttl_seconds=HOUR, on_authorization_expiry="cancel",
                           pack_alert_seconds=3 * HOUR, delivery_alert_seconds=5 * HOUR,
                           delivery_give_up_seconds=50 * HOUR, carrier_retry_seconds=HOUR)


class FlakyCarrier(LocalShippingCarrier):
    """The local carrier, down until a test says it is back."""

    def __init__(self):
        self.down = False

    async def buy_label(self, **kwargs):
        if self.down:
            raise ProviderUnavailable("carrier API answered 503")
        return await super().buy_label(**kwargs)


@pytest.fixture
def carrier():
    return FlakyCarrier()


@pytest.fixture
async def stack(time_env, engine, database_url, carrier, tmp_path_factory):
    """API + worker bound to the time-skipping server; each test gets its own task queue."""

    async def start(policy: FulfillmentPolicy):
        queue = f"ts-{uuid.uuid4().hex[:8]}"
        adapters = Adapters(payment=LocalPaymentGateway(), tax=LocalTaxCalculator(), shipping=carrier,
                            email=OutboxEmailSender(tmp_path_factory.mktemp("outbox"), "shop@example.com"))
        worker = build_worker(time_env.client, queue, engine, adapters, policy)
        app = create_app(Settings(environment="test", database_url=database_url, task_queue=queue),
                         engine=engine, temporal=time_env.client)
        api = AsyncClient(transport=ASGITransport(app=app), base_url="http://orderflow.test",
                          headers={"Authorization": f"Bearer {await make_api_key(engine, 'admin')}"})
        return worker, api

    return start


async def place_order(api, client, engine, quantity=1, card="pm_card_visa"):
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    started = await start_checkout(api, checkout_body(await cart_with(api, {sku: quantity}), card))
    checkout_id = started.json()["checkout_id"]
    result = await client.get_workflow_handle(f"checkout-{checkout_id}").result()
    assert result["status"] == "completed", result
    return sku, checkout_id, result["order_id"]


async def finished(env, workflow_id: str):
    """Await a workflow's result with time skipping on (handles we did not start don't unlock it)."""
    async with env.time_skipping_unlocked():
        return await env.client.get_workflow_handle(workflow_id).result()


async def skip_until(env, probe, real_seconds: float = 120.0):
    """Let server time run (skipping) until ``probe()`` is truthy; bounded in real time.

    The bound only guards against a hang: reaching a carrier alert takes ~60 real activity
    attempts (10 min of retry budget, skipped between attempts), seconds on an idle machine but
    far more on a loaded one, so a tight bound fails for the machine's load, not the code."""
    async with env.time_skipping_unlocked():
        return await eventually(probe, real_seconds)


async def only_shipment(env, engine, order_id):
    """The order's single shipment, once the order workflow has routed it."""
    async def started_shipment():
        async with engine.connect() as conn:
            row = (await conn.execute(select(shipments).where(shipments.c.order_id == order_id))).first()
        return row if row is not None and await _started(env, row.workflow_id) else None

    return await eventually(started_shipment, what=f"the shipment of order {order_id} to start")


async def _started(env, workflow_id: str) -> bool:
    try:
        await env.client.get_workflow_handle(workflow_id).describe()
        return True
    except RPCError:
        return False


async def test_authorization_expiry_cancels_and_compensates(stack, time_env, engine):
    worker, api = await stack(POLICY)
    async with worker, api:
        sku, checkout_id, order_id = await place_order(api, time_env.client, engine, quantity=2)
        assert await atp(api, sku) == 3

        outcome = await finished(time_env, f"order-{order_id}")

        assert outcome == "cancelled"
        order = (await api.get(f"/orders/{order_id}")).json()
        assert order["status"] == "cancelled"
        assert order["events"][-1]["data"]["reason"] == "authorization_expired"
        assert await atp(api, sku) == 5, "the order's stock is released"
        async with engine.connect() as conn:
            kinds = (await conn.execute(select(payment_operations.c.kind, payment_operations.c.status)
                                        .where(payment_operations.c.payment_ref == checkout_id))).all()
        assert ("void", "succeeded") in kinds
        assert (await only_shipment(time_env, engine, order_id)).status == "cancelled"


@pytest.mark.parametrize("card", REUSED_CARDS)
async def test_authorization_is_renewed_before_it_lapses(stack, time_env, engine, card):
    worker, api = await stack(POLICY.model_copy(update={"on_authorization_expiry": "reauthorize"}))
    async with worker, api:
        card = reused_card(card)
        _, checkout_id, order_id = await place_order(api, time_env.client, engine, card=card)
        async def renewed():
            async with engine.connect() as conn:
                kinds = (await conn.execute(select(payment_operations.c.kind)
                                            .where(payment_operations.c.payment_ref == checkout_id))).scalars().all()
            return sorted(kinds) == ["authorize", "void"]

        # The expiring authorization is replaced, then voided.
        await skip_until(time_env, renewed)
        order = (await api.get(f"/orders/{order_id}")).json()
        assert "payment.reauthorized" in [e["type"] for e in order["events"]]
        assert order["status"] == "authorized"

        # Ship it: the capture draws on the renewed authorization and the order completes.
        shipment = await only_shipment(time_env, engine, order_id)
        await api.post(f"/shipments/{shipment.id}/packed")
        await time_env.client.get_workflow_handle(shipment.workflow_id).signal(
            ShipmentWorkflow.tracking_update,
            TrackingEvent(event_id="d1", status="delivered", occurred_at=datetime.now(UTC)))
        assert await finished(time_env, f"order-{order_id}") == "delivered"
        async with engine.connect() as conn:
            captured = (await conn.execute(select(payment_operations.c.payment_ref).where(
                payment_operations.c.kind == "capture",
                payment_operations.c.payment_ref.like(f"{order_id}:reauth-%")))).scalars().all()
        assert len(captured) == 1


async def test_overdue_packing_and_delivery_raise_alerts_without_hanging(stack, time_env, engine):
    worker, api = await stack(POLICY.model_copy(update={"authorization_ttl_seconds": 100 * HOUR}))
    async with worker, api:
        _, _, order_id = await place_order(api, time_env.client, engine)
        shipment = await only_shipment(time_env, engine, order_id)
        handle = time_env.client.get_workflow_handle(shipment.workflow_id)

        async def alert_is(expected):
            # Read the database, not a query: queries are workflow tasks and hold the test clock.
            return (await only_shipment(time_env, engine, order_id)).alert == expected

        # Bounded sleeps, not polling: unlocked, the test server races on to the next timer.
        await time_env.sleep(4 * HOUR)
        assert await alert_is("pack_overdue")

        packed = await api.post(f"/shipments/{shipment.id}/packed")
        assert packed.status_code == 202, packed.text
        await time_env.sleep(6 * HOUR)
        assert await alert_is("delivery_overdue")
        description = await handle.describe()
        assert description.typed_search_attributes.get(sa.FULFILLMENT_ALERT) == "delivery_overdue"

        await handle.signal(ShipmentWorkflow.tracking_update,
                            TrackingEvent(event_id="late", status="delivered", occurred_at=datetime.now(UTC)))
        assert await finished(time_env, shipment.workflow_id) == "delivered"
        assert (await only_shipment(time_env, engine, order_id)).alert is None


async def test_delivery_never_confirmed_ends_as_unconfirmed(stack, time_env, engine):
    worker, api = await stack(POLICY.model_copy(update={"authorization_ttl_seconds": 100 * HOUR}))
    async with worker, api:
        _, _, order_id = await place_order(api, time_env.client, engine)
        shipment = await only_shipment(time_env, engine, order_id)
        await api.post(f"/shipments/{shipment.id}/packed")
        assert await finished(time_env, shipment.workflow_id) == "delivery_unconfirmed"
        assert await finished(time_env, f"order-{order_id}") == "needs_attention"


async def test_carrier_outage_retries_then_alerts_and_recovers(stack, time_env, engine, carrier):
    worker, api = await stack(POLICY.model_copy(update={"authorization_ttl_seconds": 100 * HOUR}))
    async with worker, api:
        _, _, order_id = await place_order(api, time_env.client, engine)
        shipment = await only_shipment(time_env, engine, order_id)
        handle = time_env.client.get_workflow_handle(shipment.workflow_id)
        carrier.down = True
        try:
            await api.post(f"/shipments/{shipment.id}/packed")
            async def alerted():
                return (await only_shipment(time_env, engine, order_id)).alert == "carrier_failure:provider_unavailable"

            await skip_until(time_env, alerted)
            state = await handle.query(ShipmentWorkflow.state)
            assert state["status"] == "packed"
            # Ops ask for a retry while the shipment still waits on the carrier: once the carrier is
            # back, a working carrier cannot have moved the shipment past "packed" under our feet.
            retry = await api.post(f"/shipments/{shipment.id}/retry-carrier")
            assert retry.status_code == 202, retry.text
        finally:
            carrier.down = False
        await handle.signal(ShipmentWorkflow.tracking_update,
                            TrackingEvent(event_id="ok", status="delivered", occurred_at=datetime.now(UTC)))
        assert await finished(time_env, shipment.workflow_id) == "delivered"


async def test_three_d_secure_never_completed_times_out_and_compensates(stack, time_env, engine):
    worker, api = await stack(POLICY)
    async with worker, api:
        sku = await make_sku(engine, stock={await make_location(engine): 2})
        started = await start_checkout(api, checkout_body(await cart_with(api, {sku: 2}),
                                                          payment_method="pm_card_authenticationRequired"))
        checkout_id = started.json()["checkout_id"]
        result = await finished(time_env, f"checkout-{checkout_id}")
        assert result["status"] == "failed"
        assert result["error"]["code"] == "payment_authentication_timeout"
        assert await atp(api, sku) == 2
        async with engine.connect() as conn:
            kinds = dict((await conn.execute(select(payment_operations.c.kind, payment_operations.c.status)
                                             .where(payment_operations.c.payment_ref == checkout_id))).all())
        assert kinds == {"authorize": "pending", "void": "succeeded"}

