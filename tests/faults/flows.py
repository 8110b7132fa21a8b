"""Drive one flow on the time-skipping server with a fault injected, then judge it by the money invariants."""

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

from httpx import ASGITransport, AsyncClient
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.worker import Worker

from adapters.factory import Adapters
from adapters.local.email import OutboxEmailSender
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from api.app import create_app
from config import Settings
from db import money_invariants as gather
from db.tables import shipments
from models.fulfillment import FulfillmentPolicy
from models.money_invariants import WorkflowView
from models.reconciliation import ReconciliationInput, ReconciliationRun
from tests.factories import make_api_key, make_location, make_sku
from tests.faults.harness import FaultInjector, RecordingGateway
from tests.integration.checkout_helpers import cart_with, checkout_body, start_checkout
from worker import WORKFLOWS, build_activities
from workflows import search_attributes as sa
from workflows.reconciliation import ReconciliationWorkflow

# Hang guard only: a case normally ends in a few seconds; a loaded machine is slower.
CASE_SECONDS = 120.0
# Shipments waiting for a person (packing) wait visibly: the order page shows them pending_pack.
VISIBLE_SHIPMENT_WAITS = {"pending_pack"}
# Fulfillment statuses that are a visible waiting state (FulfillmentStatus search attribute).
VISIBLE_FULFILLMENT_WAITS = {"awaiting_shipment"}


@dataclass
class Stack:
    env: object
    engine: object
    worker: Worker
    api: AsyncClient
    gateway: RecordingGateway
    injector: FaultInjector
    queue: str = ""


async def start_stack(env, engine, database_url, outbox, injector: FaultInjector,
                      policy: FulfillmentPolicy | None = None, edge=None, card_network: LocalPaymentGateway | None = None,
                      **settings) -> Stack:
    """``edge(adapters)`` may wrap the local providers (e.g. switch them to fail); the payment recorder
    stays innermost, so it sees what the provider really did. ``card_network``: the local payment provider
    configured otherwise (e.g. without multicapture)."""
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    gateway = RecordingGateway(card_network or LocalPaymentGateway())
    adapters = Adapters(payment=gateway, tax=LocalTaxCalculator(), shipping=LocalShippingCarrier(),
                        email=OutboxEmailSender(outbox))
    adapters = edge(adapters) if edge else adapters
    worker = Worker(env.client, task_queue=queue, workflows=WORKFLOWS, interceptors=[injector],
                    activities=build_activities(engine, adapters, policy))
    app = create_app(Settings(environment="test", database_url=database_url, task_queue=queue, **settings),
                     engine=engine, temporal=env.client)
    app.state.payment_gateway = gateway
    api = AsyncClient(transport=ASGITransport(app=app), base_url="http://orderflow.test",
                      headers={"Authorization": f"Bearer {await make_api_key(engine, 'admin')}"})
    return Stack(env, engine, worker, api, gateway, injector, queue)


async def stocked_sku(engine, on_hand: int = 5, price: int = 2000) -> tuple[str, tuple]:
    """A fresh SKU with stock at one location, and its stock rows before anything happens."""
    sku = await make_sku(engine, price=price, stock={await make_location(engine): on_hand})
    async with engine.connect() as conn:
        return sku, await gather.stock_of_skus(conn, [sku])


async def finished(env, workflow_id: str):
    """A workflow's result with time skipping on; a failed workflow returns its exception."""
    unlocked = env.time_skipping_unlocked() if env.supports_time_skipping else contextlib.nullcontext()
    async with unlocked:
        try:
            return await asyncio.wait_for(env.client.get_workflow_handle(workflow_id).result(), CASE_SECONDS)
        except asyncio.TimeoutError:
            raise
        except Exception as failure:  # noqa: BLE001 - the invariants judge a failed workflow
            return failure


async def workflow_view(stack: Stack, workflow_id: str, only_existence: bool = False) -> WorkflowView:
    try:
        described = await stack.env.client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return WorkflowView(workflow_id, "missing")
    if only_existence:
        return WorkflowView(workflow_id, "completed", "exists")
    status = {WorkflowExecutionStatus.RUNNING: "running", WorkflowExecutionStatus.COMPLETED: "completed",
              WorkflowExecutionStatus.CONTINUED_AS_NEW: "continued_as_new"}.get(described.status)
    status = status or described.status.name.lower()
    attributes = described.typed_search_attributes
    reason = attributes.get(sa.FULFILLMENT_ALERT)
    if attributes.get(sa.FULFILLMENT_STATUS) in VISIBLE_FULFILLMENT_WAITS:
        reason = reason or attributes.get(sa.FULFILLMENT_STATUS)
    if workflow_id.startswith("subscription-"):
        reason = reason or attributes.get(sa.SUBSCRIPTION_ALERT)
        if attributes.get(sa.SUBSCRIPTION_STATUS):
            reason = reason or f"subscription {attributes.get(sa.SUBSCRIPTION_STATUS)}"
    if workflow_id.startswith("shipment-") and not reason:
        async with stack.engine.connect() as conn:
            row = (await conn.execute(select(shipments.c.status)
                                      .where(shipments.c.workflow_id == workflow_id))).scalar()
        reason = row if row in VISIBLE_SHIPMENT_WAITS else None
    return WorkflowView(workflow_id, status, reason)


async def order_workflows(stack: Stack, order_id: str) -> list[str]:
    async with stack.engine.connect() as conn:
        ids = (await conn.execute(select(shipments.c.workflow_id).where(shipments.c.order_id == order_id))).scalars()
        return [f"order-{order_id}", *ids]


async def views(stack: Stack, workflow_ids, only_existence: bool = False) -> tuple[WorkflowView, ...]:
    return tuple([await workflow_view(stack, workflow_id, only_existence) for workflow_id in workflow_ids])


async def advance_until(env, probe, *, step: timedelta = timedelta(minutes=10),
                        limit: timedelta = timedelta(days=1)) -> bool:
    """Move server time on in bounded steps until ``probe()`` holds (or ``limit`` is spent).

    Bounded steps, not unlocked polling: unlocked, the test server races on to the next timer
    (pack alerts, authorization expiry), which is not what the case is about. The probe is also
    checked during a step, and the step abandoned once it holds: after an order workflow (a child
    whose parent checkout is long closed) completes, the test server stops skipping time, and the
    step would last its full duration in real time."""
    loop = asyncio.get_running_loop()
    give_up, spent = loop.time() + CASE_SECONDS, timedelta()
    while not await probe():
        if spent >= limit:
            return False
        sleeper = asyncio.ensure_future(env.sleep(step))
        while not sleeper.done():
            assert loop.time() < give_up, "hang guard: the case did not settle"
            await asyncio.wait({sleeper}, timeout=0.1)
            if not sleeper.done() and await probe():
                sleeper.cancel()
                with contextlib.suppress(asyncio.CancelledError, RPCError):
                    await sleeper
                return True
        sleeper.result()
        spent += step
    return True


async def closed(stack: Stack, workflow_id: str) -> bool:
    try:
        described = await stack.env.client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return False
    return described.status != WorkflowExecutionStatus.RUNNING


async def shipment_rows(stack: Stack, order_id: str) -> list:
    async with stack.engine.connect() as conn:
        return list(await conn.execute(select(shipments).where(shipments.c.order_id == order_id)
                                       .order_by(shipments.c.id)))


async def place_order(stack: Stack, lines: dict[str, int]) -> tuple[str, str]:
    """A clean checkout of ``lines``: (checkout id, order id)."""
    started = await start_checkout(stack.api, checkout_body(await cart_with(stack.api, lines)))
    assert started.status_code == 202, started.text
    checkout_id = started.json()["checkout_id"]
    result = await finished(stack.env, f"checkout-{checkout_id}")
    assert result["status"] == "completed", result
    return checkout_id, result["order_id"]


async def reconcile(stack: Stack) -> ReconciliationRun:
    """One run of the reconciliation workflow, as its Schedule starts it, with the default threshold.

    No waiting for the threshold: the ledger's rows carry the database's (real) time and the run judges
    their age by the server's, which the case has already skipped hours past them."""
    pending_after = Settings().reconciliation_pending_after_seconds
    started = await stack.env.client.start_workflow(
        ReconciliationWorkflow.run, ReconciliationInput(pending_after_seconds=pending_after),
        id=f"reconciliation-{uuid.uuid4().hex[:8]}", task_queue=stack.queue)
    run = await finished(stack.env, started.id)
    assert isinstance(run, dict), f"the reconciliation run failed: {run}"
    return ReconciliationRun.model_validate(run)
