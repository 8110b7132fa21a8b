"""Reconciliation on the dev server with real PostgreSQL and a fake provider at the edge.

The provider is faked only where it answers: ``lookup`` (what became of an operation whose answer
was lost) and ``void``; the ledger, the workflow and the report are the real ones.
"""

import asyncio
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import text, update
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer, Worker

from activities.payments_service import PaymentService
from activities.reconciliation import ReconciliationActivities
from adapters.ports import PaymentResult, ProviderUnavailable
from config import Settings
from db import payments as ledger
from db.tables import checkouts, orders, payment_operations
from models.reconciliation import ReconciliationInput, ReconciliationRun
from tests.integration.checkout_helpers import eventually
from worker import RECONCILIATION_SCHEDULE_ID, WORKFLOWS, run_worker
from workflows import search_attributes as sa
from workflows.reconciliation import ReconciliationWorkflow

HISTORY = Path(__file__).resolve().parent.parent / "histories" / "reconciliation_run.json"
PENDING_AFTER = 3600  # the operations below are made older than this; a fresh one is not


class FakeProvider:
    """What the provider knows, by idempotency key; keys in ``down`` get no answer right now."""

    name = "local"

    def __init__(self) -> None:
        self.answers: dict[str, PaymentResult] = {}
        self.down: set[str] = set()
        self.looked_up: list[str] = []
        self.voids: list[tuple[str, str]] = []

    async def lookup(self, *, kind: str, idempotency_key: str, reference: str,
                     provider_ref: str | None = None) -> PaymentResult | None:
        self.looked_up.append(idempotency_key)
        if idempotency_key in self.down:
            raise ProviderUnavailable("the provider is down")
        return self.answers.get(idempotency_key)

    async def void(self, *, provider_ref: str, idempotency_key: str) -> PaymentResult:
        self.voids.append((provider_ref, idempotency_key))
        return PaymentResult(provider_ref, "voided", 0)


@pytest.fixture(scope="module")
def provider() -> FakeProvider:
    return FakeProvider()


@pytest_asyncio.fixture(scope="module")
async def worker(temporal_env, engine, task_queue, provider):
    """Only what reconciliation needs, with the fake provider (overrides the local-adapters worker)."""
    payments = PaymentService(engine, provider)
    activities = ReconciliationActivities(engine, provider, payments)
    async with Worker(temporal_env.client, task_queue=task_queue, workflows=[ReconciliationWorkflow],
                      activities=[activities.find_stale_operations, activities.find_orphan_holds,
                                  activities.settle_operation, activities.void_orphan_hold,
                                  activities.record_reconciliation_run]) as running:
        yield running


async def pending(engine, kind: str, payment_ref: str, amount: int = 1000, *, provider_ref: str | None = None,
                  settle: bool = False, age_seconds: int = 2 * PENDING_AFTER) -> str:
    """A ledger operation recorded the way the live workflows do it, then aged."""
    key = f"{payment_ref}:{kind}"
    async with engine.begin() as conn:
        await ledger.begin(conn, idempotency_key=key, req_hash=ledger.request_hash(kind=kind), payment_ref=payment_ref,
                           kind=kind, provider="local", amount=amount, currency="USD")
        if settle:
            await ledger.complete(conn, key, status="succeeded", provider_ref=provider_ref)
        elif provider_ref:
            await ledger.note_provider_ref(conn, key, provider_ref)
        await conn.execute(update(payment_operations).where(payment_operations.c.idempotency_key == key)
                           .values(created_at=text(f"now() - interval '{age_seconds} seconds'")))
    return key


async def failed_checkout(engine) -> str:
    checkout_id = f"chk_{uuid.uuid4().hex[:12]}"
    async with engine.begin() as conn:
        await conn.execute(checkouts.insert().values(
            id=checkout_id, idempotency_key=checkout_id, request_hash="x", cart_id="cart_gone", email="a@example.com",
            order_id=f"ord_{uuid.uuid4().hex[:12]}", workflow_id=f"checkout-{checkout_id}", status="failed",
            error_code="provider_unavailable"))
    return checkout_id


async def status_of(engine, key: str) -> str:
    async with engine.connect() as conn:
        return (await ledger.operation(conn, key)).status


async def reconcile(temporal_env, task_queue) -> tuple[ReconciliationRun, str]:
    workflow_id = f"reconciliation-test-{uuid.uuid4().hex[:8]}"
    run = await asyncio.wait_for(temporal_env.client.execute_workflow(
        ReconciliationWorkflow.run, ReconciliationInput(pending_after_seconds=PENDING_AFTER),
        id=workflow_id, task_queue=task_queue), 60)
    return run, workflow_id


async def test_a_run_settles_what_the_provider_knows_voids_orphans_and_alerts_on_the_rest(
        temporal_env, task_queue, engine, provider, worker, api_as):
    # The checkout's authorize lost its answer, the checkout gave up: the provider holds the money anyway.
    orphan_ref = await failed_checkout(engine)
    held = await pending(engine, "authorize", orphan_ref, provider_ref=None)
    provider.answers[held] = PaymentResult("pi_orphan", "authorized", 1000)
    # A capture that went through although its answer was lost.
    order_ref = f"ord_{uuid.uuid4().hex[:12]}"
    await pending(engine, "authorize", order_ref, provider_ref="pi_order", settle=True)
    captured = await pending(engine, "capture", order_ref, provider_ref="pi_order")
    provider.answers[captured] = PaymentResult("pi_order", "captured", 1000)
    # A refund the provider never saw, and a renewal charge it cannot tell us about right now.
    refunded_ref = f"ord_{uuid.uuid4().hex[:12]}"
    await pending(engine, "authorize", refunded_ref, provider_ref="pi_r", settle=True)
    await pending(engine, "capture", refunded_ref, provider_ref="pi_r", settle=True)
    never = await pending(engine, "refund", refunded_ref, amount=300)
    unknown = await pending(engine, "charge", f"sub_{uuid.uuid4().hex[:8]}:cycle-1")
    provider.down.add(unknown)
    # Younger than the threshold: a live workflow may still be working on it.
    live = await pending(engine, "authorize", f"chk_{uuid.uuid4().hex[:12]}", age_seconds=0)

    run, workflow_id = await reconcile(temporal_env, task_queue)

    assert (await status_of(engine, held), await status_of(engine, captured)) == ("succeeded", "succeeded")
    assert (await status_of(engine, never), await status_of(engine, unknown)) == ("failed", "pending")
    assert await status_of(engine, live) == "pending" and live not in provider.looked_up
    assert provider.voids == [("pi_orphan", f"{orphan_ref}:orphan-void")]
    assert await status_of(engine, f"{orphan_ref}:orphan-void") == "succeeded"
    assert run.counts() == {"checked": 5, "settled": 3, "voided": 1, "unsettled": 1}
    assert [(i.idempotency_key, i.reason) for i in run.items if i.action == "unsettled"] == [
        (unknown, "provider_unavailable")]

    description = await temporal_env.client.get_workflow_handle(workflow_id).describe()
    assert description.typed_search_attributes.get(sa.RECONCILIATION_ALERT) == "unsettled:1"
    assert await description.memo() == run.counts()
    report = await api_as("ops").get("/reports/reconciliation")
    assert report.status_code == 200, report.text
    last = report.json()["last_run"]
    assert (last["run_id"], last["unsettled"], last["voided"]) == (workflow_id, 1, 1)
    assert [i["idempotency_key"] for i in last["items"] if i["action"] == "unsettled"] == [unknown]

    history = await temporal_env.client.get_workflow_handle(workflow_id).fetch_history()
    replayed = await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(history)
    assert replayed.replay_failure is None
    if os.environ.get("RECORD_HISTORIES") == "1" and not HISTORY.exists():
        HISTORY.write_text(history.to_json())


async def test_a_run_with_the_provider_back_settles_what_it_left_and_clears_the_alert(
        temporal_env, task_queue, engine, provider, worker):
    provider.down.clear()
    run, workflow_id = await reconcile(temporal_env, task_queue)
    assert run.unsettled == 0  # the charge left pending by the previous run: the provider has no record of it
    description = await temporal_env.client.get_workflow_handle(workflow_id).describe()
    assert description.typed_search_attributes.get(sa.RECONCILIATION_ALERT) is None


async def test_the_report_is_for_ops(api_as):
    assert (await api_as("support").get("/reports/reconciliation")).status_code == 403


async def test_every_worker_start_leaves_one_schedule_with_the_settings(temporal_env, database_url):
    address = temporal_env.client.service_client.config.target_host
    settings = Settings(environment="test", database_url=database_url, temporal_address=address,
                        task_queue=f"tq-schedule-{uuid.uuid4().hex[:6]}", worker_metrics_port=0,
                        reconciliation_interval_seconds=600, reconciliation_pending_after_seconds=120)
    handle = temporal_env.client.get_schedule_handle(RECONCILIATION_SCHEDULE_ID)
    await _delete(handle)  # another module's worker may have made one with other settings
    workers = [asyncio.ensure_future(run_worker(settings)) for _ in range(2)]  # two workers start at once

    async def scheduled_here():
        try:
            schedule = (await handle.describe()).schedule
        except RPCError:  # not created yet
            return None
        return schedule if schedule.action.task_queue == settings.task_queue else None

    try:
        schedule = await eventually(scheduled_here, 30)
        assert schedule is not None, "no reconciliation schedule for these workers after they started"
        assert [i.every for i in schedule.spec.intervals] == [timedelta(seconds=600)]
        action = schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert (action.workflow, action.id, action.task_queue) == ("ReconciliationWorkflow", "reconciliation",
                                                                   settings.task_queue)
        (request,) = await pydantic_data_converter.decode(action.args, [ReconciliationInput])
        assert request.pending_after_seconds == 120
        assert not any(w.done() and w.exception() for w in workers), [w.exception() for w in workers if w.done()]
    finally:
        for running in workers:
            running.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await _delete(handle)


async def _delete(handle) -> None:
    try:
        await handle.delete()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise


async def order_on(engine, payment_ref: str, status: str) -> str:
    """An order drawing on ``payment_ref`` (only what the orphan query reads matters here)."""
    order_id = f"ord_{uuid.uuid4().hex[:12]}"
    async with engine.begin() as conn:
        await conn.execute(orders.insert().values(
            id=order_id, checkout_id=f"chk_{uuid.uuid4().hex[:12]}", cart_id="cart_x", email="a@example.com",
            status=status, currency="USD", subtotal=1000, discount_total=0, tax_total=0, shipping_total=0,
            total=1000, shipping_address={}, shipping_method={}, tax_provider="local", payment_ref=payment_ref,
            payment_provider="local", authorization_id="pi_x", authorized_amount=1000))
    return order_id


async def test_a_cancelled_orders_hold_whose_void_failed_is_voided_and_live_orders_are_left_alone(
        temporal_env, task_queue, engine, provider, worker):
    # Cancelled, but its void was refused for good (the order workflow raised cancel_incomplete:void).
    cancelled_ref = f"chk_{uuid.uuid4().hex[:12]}"
    await pending(engine, "authorize", cancelled_ref, provider_ref="pi_cancelled", settle=True)
    await order_on(engine, cancelled_ref, "cancelled")
    refused = await pending(engine, "void", cancelled_ref, amount=1000)
    async with engine.begin() as conn:
        await ledger.complete(conn, refused, status="failed", error_code="injected")
    # An order still waiting to ship, and a cancelled one whose hold was already voided: not orphans.
    live_ref, voided_ref = f"chk_{uuid.uuid4().hex[:12]}", f"chk_{uuid.uuid4().hex[:12]}"
    for ref, status in ((live_ref, "authorized"), (voided_ref, "cancelled")):
        await pending(engine, "authorize", ref, provider_ref=f"pi_{ref}", settle=True)
        await order_on(engine, ref, status)
    await pending(engine, "void", voided_ref, amount=1000, settle=True)
    provider.voids.clear()

    run, _ = await reconcile(temporal_env, task_queue)

    assert provider.voids == [("pi_cancelled", f"{cancelled_ref}:orphan-void")]
    assert await status_of(engine, f"{cancelled_ref}:orphan-void") == "succeeded"
    assert run.voided == 1
