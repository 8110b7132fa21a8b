"""Temporal worker: registers every workflow and activity on the orderflow task queue."""

import asyncio
import dataclasses
import multiprocessing
import os
import signal
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from multiprocessing.connection import wait as wait_for_exit

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleIntervalSpec,
    ScheduleOverlapPolicy, SchedulePolicy, ScheduleSpec, ScheduleUpdate,
)
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker, WorkerDeploymentConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.checkout import (
    CartActivities, InventoryActivities, OrderActivities, PricingActivities, ShippingActivities, TaxActivities,
)
from activities.cart_recovery import CartRecoveryActivities
from activities.checkout_preparation import CheckoutPreparationActivities
from activities.disputes import DisputeActivities
from activities.draft_orders import DraftOrderActivities
from activities.fraud import FraudActivities
from activities.sweeper import SweeperActivities
from activities.fulfillment import FulfillmentActivities, ShipmentActivities
from activities.notifications import NotificationActivities
from activities.ops_alerts import OpsAlertActivities
from activities.order_edits import OrderEditActivities
from activities.quoting import QuoteActivities
from activities.payments import PaymentActivities, heartbeating
from activities.payments_service import PaymentService
from activities.reconciliation import ReconciliationActivities
from activities.returns import ReturnActivities
from activities.sign_in_links import SignInLinkActivities
from activities.subscription_sign_up import SubscriptionSignUpActivities
from activities.subscriptions import SubscriptionActivities
from activities.support import RefundService, SupportActivities
from adapters.factory import Adapters, build_adapters
from config import DEV_CUSTOMER_TOKEN_SECRET, DEV_SIGN_IN_PAGE, DEV_UNSUBSCRIBE_SECRET, Settings, get_settings
from db.engine import primary_engine
from models.customer_tokens import CustomerTokens, StorefrontLinks
import tracing
from models.fulfillment import FulfillmentPolicy
from models.ops_alerts import OpsAlertInput
from models.reconciliation import ReconciliationInput
from models.routing import DEFAULT_DISTANCES
from models.unsubscribe import UnsubscribeLinks
from workflows.abandoned_cart import AbandonedCartWorkflow
from workflows.checkout import CheckoutWorkflow
from workflows.dispute import DisputeWorkflow
from workflows.ops_alerts import OpsAlertDigestWorkflow
from workflows.quote import QuoteWorkflow
from workflows.order_support import OrderSupportWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.reservation_sweep import ReservationSweepWorkflow
from workflows.returns import ReturnWorkflow
from workflows.routing import ActivityRouting
from workflows.fulfillment import FulfillmentWorkflow
from workflows.shipment import ShipmentWorkflow
from workflows.sign_in_link import SignInLinkWorkflow
from workflows.draft_invoice import DraftInvoiceWorkflow
from workflows.subscription import SubscriptionWorkflow
from workflows.subscription_sign_up import SubscriptionSignUpWorkflow

log = structlog.get_logger("orderflow.worker")

WORKFLOWS = [CheckoutWorkflow, FulfillmentWorkflow, ShipmentWorkflow, DisputeWorkflow, OrderSupportWorkflow,
             ReturnWorkflow, SubscriptionWorkflow, AbandonedCartWorkflow, ReconciliationWorkflow, SignInLinkWorkflow,
             SubscriptionSignUpWorkflow, ReservationSweepWorkflow]
WORKFLOWS.append(OpsAlertDigestWorkflow)
WORKFLOWS.append(QuoteWorkflow)
WORKFLOWS.append(DraftInvoiceWorkflow)
RECONCILIATION_SCHEDULE_ID = "reconciliation"
SWEEP_SCHEDULE_ID = "reservation-sweep"
OPS_ALERT_SCHEDULE_ID = "ops-alert-digest"
# `--processes N` waits this much longer than a process's own drain before killing it.
STOP_MARGIN_SECONDS = 10.0
# Workflow-task polling of the workers that run workflows. The SDK's default (5 polls, a fifth of them on the
# shared queue) left ONE poller for every new workflow's first task: checkouts queued there behind the
# fulfillments and shipments they start, ~1 s of a 2.5 s checkout at concurrency 10 and its p99 tail
# (bench/README.md). Ten on the shared queue and ten on the worker's sticky queue cut that wait to ~0.2 s.
WORKFLOW_POLLING = dict(workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(maximum=20),
                        nonsticky_to_sticky_poll_ratio=0.5)
# The production workers' sandbox imports our own packages once, from outside, instead of executing the
# workflow's module again for every new workflow (three per checkout: its own, the order's, the parcel's):
# creating workflow instances fell from 6.6 % to 1.8 % of the worker's busy samples at concurrency 10
# (bench/README.md). Temporal's guidance is to pass through modules whose calls are deterministic; ours are
# checked where it matters: the tests' workers (build_worker) and every Replayer (CI's saved histories,
# `make replay-live` before a deploy) run the default, strict sandbox, which refuses a non-deterministic call
# in workflow code, and tests/unit/test_workflow_modules.py keeps the workflow modules' globals immutable
# (shared by every run once passed through).
PRODUCTION_WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows", "models", "activities"))

# Activities outside PaymentActivities that call the payment provider (through PaymentService, RefundService or
# the gateway itself). With PAYMENTS_TASK_QUEUE they run there too, under the provider's rate limit: a refund or a
# renewal charge counts against the same requests per second as a checkout's authorization.
# tests/integration/test_payment_routing.py finds every activity whose code reaches the provider and checks it.
PAYMENT_PROVIDER_ACTIVITIES = frozenset({
    "issue_refund",  # SupportActivities
    "refund_return", "charge_exchange_difference", "refund_exchange_difference",  # ReturnActivities
    "charge_renewal", "save_payment_method",  # SubscriptionActivities
    "create_payment_customer",  # SubscriptionSignUpActivities
    "renew_authorization",  # FulfillmentActivities (re-authorization of orders started before its steps)
    "raise_authorization", "refund_order_edit",  # OrderEditActivities
    "settle_operation", "void_orphan_hold",  # ReconciliationActivities
})

DEV_STOREFRONT_LINKS = StorefrontLinks(CustomerTokens(DEV_CUSTOMER_TOKEN_SECRET), "http://127.0.0.1:8000")


def fulfillment_policy(settings: Settings) -> FulfillmentPolicy:
    return FulfillmentPolicy(**{name: getattr(settings, name) for name in FulfillmentPolicy.model_fields})


def build_activities(engine: AsyncEngine, adapters: Adapters, policy: FulfillmentPolicy | None = None,
                     distances: Mapping[str, Mapping[str, int]] | None = None,
                     unsubscribe: UnsubscribeLinks | None = None,
                     links: StorefrontLinks | None = DEV_STOREFRONT_LINKS, sign_in_page: str = DEV_SIGN_IN_PAGE) -> list:
    """``unsubscribe`` and ``links`` default to development ones (the dev secrets), which tests' APIs verify too;
    ``links=None``: customer email without links to the storefront."""
    unsubscribe = unsubscribe or UnsubscribeLinks(DEV_UNSUBSCRIBE_SECRET, "http://127.0.0.1:8000")
    payments = PaymentService(engine, adapters.payment, around_provider_call=heartbeating)
    refunds = RefundService(engine, payments, adapters.tax)
    instances = [
        CheckoutPreparationActivities(engine, adapters.shipping, adapters.tax),
        CartActivities(engine), PricingActivities(engine), TaxActivities(adapters.tax),
        ShippingActivities(adapters.shipping, engine), InventoryActivities(engine), PaymentActivities(payments),
        OrderActivities(engine),
        FulfillmentActivities(engine, payments, policy or FulfillmentPolicy(), distances or DEFAULT_DISTANCES),
        ShipmentActivities(engine, adapters.shipping, adapters.tax),
        NotificationActivities(engine, adapters.email, links),
        SupportActivities(refunds),
        ReturnActivities(engine, adapters.shipping, refunds),
        SubscriptionActivities(engine, payments, adapters.payment, adapters.email),
        SubscriptionSignUpActivities(adapters.payment),
        FraudActivities(engine), CartRecoveryActivities(engine, adapters.email, unsubscribe, links),
        DisputeActivities(engine), ReconciliationActivities(engine, adapters.payment, payments),
        SignInLinkActivities(engine, adapters.email, sign_in_page), SweeperActivities(engine),
        OpsAlertActivities(engine, adapters.email), QuoteActivities(engine, adapters.shipping, adapters.tax),
        DraftOrderActivities(engine, adapters.email, links),
        OrderEditActivities(engine, payments, adapters.shipping, adapters.tax),
    ]
    return [
        getattr(instance, name)
        for instance in instances
        for name in dir(type(instance))
        if hasattr(getattr(type(instance), name), "__temporal_activity_definition")
    ]


def build_worker(client: Client, task_queue: str, engine: AsyncEngine, adapters: Adapters,
                 policy: FulfillmentPolicy | None = None,
                 distances: Mapping[str, Mapping[str, int]] | None = None,
                 unsubscribe: UnsubscribeLinks | None = None,
                 links: StorefrontLinks | None = DEV_STOREFRONT_LINKS, sign_in_page: str = DEV_SIGN_IN_PAGE) -> Worker:
    return Worker(
        client, task_queue=task_queue, workflows=WORKFLOWS,
        activities=build_activities(engine, adapters, policy, distances, unsubscribe, links=links,
                                    sign_in_page=sign_in_page),
    )


def payment_provider_activities(activities: Sequence) -> list:
    """The activities that call the payment provider: every PaymentActivities one, and those named in
    PAYMENT_PROVIDER_ACTIVITIES."""
    return [a for a in activities if isinstance(getattr(a, "__self__", None), PaymentActivities)
            or a.__temporal_activity_definition.name in PAYMENT_PROVIDER_ACTIVITIES]


def build_workers(client: Client, settings: Settings, activities: Sequence) -> list[Worker]:
    """The production worker set: the main task queue (every workflow, every activity), plus, with
    PAYMENTS_TASK_QUEUE, a rate-limited one for every activity that calls the payment provider, which the
    main one routes them to. Both share the process's activity slots (Settings.activity_slots); SIGTERM drains
    for WORKER_DRAIN_SECONDS; WORKER_BUILD_ID makes them versioned workers of WORKER_DEPLOYMENT_NAME."""
    # Local activities (the checkout's and the order's short steps) draw on the same pool but not on the activity
    # slots: bounded like them, so a burst queues in the worker's workflow tasks instead of in the pool.
    common = dict(graceful_shutdown_timeout=timedelta(seconds=settings.worker_drain_seconds),
                  deployment_config=deployment_config(settings), workflow_runner=PRODUCTION_WORKFLOW_RUNNER,
                  max_concurrent_local_activities=settings.activity_slots)
    payments = payment_provider_activities(activities)
    if not settings.payments_task_queue:
        return [Worker(client, task_queue=settings.task_queue, workflows=WORKFLOWS, activities=activities,
                       max_concurrent_activities=settings.activity_slots, **WORKFLOW_POLLING, **common)]
    routes = {a.__temporal_activity_definition.name: settings.payments_task_queue for a in payments}
    main_slots = max(1, settings.activity_slots - settings.payments_activity_slots)
    return [
        Worker(client, task_queue=settings.task_queue, workflows=WORKFLOWS, activities=activities,
               interceptors=[ActivityRouting(routes)], max_concurrent_activities=main_slots, **WORKFLOW_POLLING,
               **common),
        Worker(client, task_queue=settings.payments_task_queue, activities=payments,
               max_concurrent_activities=settings.payments_activity_slots,
               max_task_queue_activities_per_second=settings.payments_activities_per_second, **common),
    ]


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """Worker Versioning (None: unversioned). Every workflow type AUTO_UPGRADEs: fulfillment, shipments,
    returns and subscriptions live for days or forever, so pinning them would keep old builds running for
    months; they move to the new build at their next task, which patched() and the replay of saved
    histories in CI keep safe. (A per-type PINNED on ``@workflow.defn`` would suit the minutes-long
    checkout, but the SDK then refuses to run that type on an unversioned worker, as dev and tests do.)"""
    if not settings.worker_build_id:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=settings.worker_deployment_name,
                                        build_id=settings.worker_build_id),
        use_worker_versioning=True, default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE)


async def run_worker(settings: Settings | None = None, stop: asyncio.Event | None = None) -> None:
    """Until ``stop`` is set (never, without one), then drain: stop polling, let running activities
    finish for WORKER_DRAIN_SECONDS, cancel the rest (Temporal retries them on another worker)."""
    from temporal_client import connect

    settings = settings or get_settings()
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set (make dev sets it for the embedded PostgreSQL)")
    engine = primary_engine(settings)  # activities write: the primary only, never a lagging replica
    tracing.configure("orderflow-worker")
    client = await connect(settings, runtime=metrics_runtime(settings))
    activities = build_activities(engine, build_adapters(settings), fulfillment_policy(settings),
                                  settings.routing_distances, settings.unsubscribe_links,
                                  links=settings.storefront_links, sign_in_page=settings.sign_in_page)
    workers = build_workers(client, settings, activities)
    await ensure_schedule(client, RECONCILIATION_SCHEDULE_ID, reconciliation_schedule(settings))
    await ensure_schedule(client, SWEEP_SCHEDULE_ID, sweep_schedule(settings))
    await ensure_ops_alert_schedule(client, settings)
    log.info("worker started", task_queues=[w.task_queue for w in workers], temporal=settings.temporal_address,
             activity_slots=settings.activity_slots, build_id=settings.worker_build_id or None)
    try:
        await serve_until(workers, stop or asyncio.Event())
    finally:
        await engine.dispose()


async def serve_until(workers: Sequence[Worker], stop: asyncio.Event) -> None:
    """Run ``workers`` until ``stop`` is set or one of them fails, then shut them all down gracefully
    (``Worker.shutdown`` waits out each worker's graceful_shutdown_timeout); re-raises a worker's failure."""
    runs = [asyncio.ensure_future(worker.run()) for worker in workers]
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([*runs, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:  # cancelled too (an embedding caller's task): never leave workers polling behind us
        stopped.cancel()
        log.info("worker draining")
        await asyncio.gather(*(worker.shutdown() for worker in workers if worker.is_running),
                             return_exceptions=True)
    for outcome in await asyncio.gather(*runs, return_exceptions=True):
        if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
            raise outcome
    log.info("worker stopped")


def reconciliation_schedule(settings: Settings) -> Schedule:
    """Every RECONCILIATION_INTERVAL_SECONDS; a run still going when the next is due makes it skip."""
    request = ReconciliationInput(pending_after_seconds=settings.reconciliation_pending_after_seconds,
                                  batch_size=settings.reconciliation_batch_size)
    return Schedule(
        action=ScheduleActionStartWorkflow(ReconciliationWorkflow.run, request, id=RECONCILIATION_SCHEDULE_ID,
                                           task_queue=settings.task_queue,
                                           static_summary="Settle lost payment answers, void orphan holds"),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(
            seconds=settings.reconciliation_interval_seconds))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def sweep_schedule(settings: Settings) -> Schedule:
    """Every RESERVATION_SWEEP_SECONDS; a sweep still going when the next is due makes it skip."""
    return Schedule(
        action=ScheduleActionStartWorkflow(ReservationSweepWorkflow.run, id=SWEEP_SCHEDULE_ID,
                                           task_queue=settings.task_queue,
                                           static_summary="Release stock holds past their expiry"),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(
            seconds=settings.reservation_sweep_seconds))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule) -> None:
    """Create the schedule, or bring an existing one to these settings: safe from any number of workers
    starting at once (one creates, the others update to the same thing)."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(schedule_id).update(
            lambda current: ScheduleUpdate(schedule=dataclasses.replace(
                schedule, state=current.description.schedule.state)))  # a pause by ops stays
    log.info("schedule in place", schedule_id=schedule_id)


def ops_alert_schedule(settings: Settings) -> Schedule:
    """Every OPS_ALERT_INTERVAL_SECONDS, a digest of what is new since the last one (nothing new: no mail)."""
    request = OpsAlertInput(recipient=settings.ops_alert_email,
                            fraud_wait_seconds=settings.ops_alert_fraud_wait_seconds,
                            return_approval_seconds=int(settings.return_approval_days * 86400),
                            expiry_warning_seconds=settings.work_queue_expiring_soon_seconds)
    return Schedule(
        action=ScheduleActionStartWorkflow(OpsAlertDigestWorkflow.run, request, id=OPS_ALERT_SCHEDULE_ID,
                                           task_queue=settings.task_queue,
                                           static_summary="Mail ops new parcel alerts, waiting fraud holds, expiring returns, low stock"),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.ops_alert_interval_seconds))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_ops_alert_schedule(client: Client, settings: Settings) -> None:
    """Like the reconciliation schedule; without OPS_ALERT_EMAIL there is no digest, so no schedule."""
    if settings.ops_alert_email:
        await ensure_schedule(client, OPS_ALERT_SCHEDULE_ID, ops_alert_schedule(settings))
        log.info("ops alert digest scheduled", every_seconds=settings.ops_alert_interval_seconds)
        return
    try:
        await client.get_schedule_handle(OPS_ALERT_SCHEDULE_ID).delete()
    except RPCError:  # never created
        pass


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting the SDK's metrics (and ``orderflow_checkouts_total``) for Prometheus
    on WORKER_METRICS_HOST:WORKER_METRICS_PORT; None (the default runtime, no export) when the port is 0.
    A port already in use costs the metrics, not the worker."""
    if not settings.worker_metrics_port:
        return None
    address = f"{settings.worker_metrics_host}:{settings.worker_metrics_port}"
    try:
        runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    except ValueError as error:
        log.error("worker metrics disabled", address=address, error=str(error))
        return None
    log.info("worker metrics", url=f"http://{address}/metrics")
    return runtime


def run_workers(settings: Settings, processes: int) -> int:
    """``processes`` worker processes, each with its own event loop, Temporal client, engine and metrics
    port (WORKER_METRICS_PORT + index). SIGINT/SIGTERM stop them all; one dying stops the rest (exit 1),
    so whatever supervises us sees the failure."""
    if processes == 1:
        _serve(settings)
        return 0
    spawn = multiprocessing.get_context("spawn")  # nothing of this process (threads, loop) leaks into them
    children = []
    for index in range(processes):
        port = settings.worker_metrics_port + index if settings.worker_metrics_port else 0
        child = spawn.Process(target=_child, args=(settings.model_copy(update={"worker_metrics_port": port}),),
                              name=f"orderflow-worker-{index}")
        child.start()
        children.append(child)
    stopping = False

    def stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.is_alive():
                os.kill(child.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        log.info("worker processes started", processes=processes, pids=[child.pid for child in children])
        while not stopping and all(child.is_alive() for child in children):
            wait_for_exit([child.sentinel for child in children], timeout=0.5)
        failed = not stopping
        if failed:
            dead = [(child.name, child.exitcode) for child in children if not child.is_alive()]
            log.error("a worker process exited; stopping the others", exited=dead)
            stop(signal.SIGTERM, None)
        deadline = time.monotonic() + settings.worker_drain_seconds + STOP_MARGIN_SECONDS  # they drain at once
        for child in children:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                log.warning("worker process did not stop in time; killing it", pid=child.pid)
                child.kill()
                child.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if failed else 0


def _serve(settings: Settings) -> None:
    """One worker in this process until SIGINT/SIGTERM, which start the drain (run_worker)."""

    async def until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    asyncio.run(until_signalled())


def _child(settings: Settings) -> None:
    from cli import exit_now
    from logging_setup import configure_logging

    configure_logging(settings.log_level, settings.log_json)
    _serve(settings)
    exit_now(0)  # skip finalization, which the SDK's Rust threads can abort


if __name__ == "__main__":
    asyncio.run(run_worker())
