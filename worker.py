"""Temporal worker: registers every workflow and activity on the orderflow task queue."""

import asyncio
import dataclasses
import multiprocessing
import os
import signal
from collections.abc import Mapping
from datetime import timedelta
from multiprocessing.connection import wait as wait_for_exit

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleIntervalSpec,
    ScheduleOverlapPolicy, SchedulePolicy, ScheduleSpec, ScheduleUpdate,
)
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities.checkout import (
    CartActivities, InventoryActivities, OrderActivities, PaymentActivities, PricingActivities,
    ShippingActivities, TaxActivities,
)
from activities.cart_recovery import CartRecoveryActivities
from activities.disputes import DisputeActivities
from activities.fraud import FraudActivities
from activities.sweeper import run_sweeper
from activities.fulfillment import FulfillmentActivities, ShipmentActivities
from activities.notifications import NotificationActivities
from activities.reconciliation import ReconciliationActivities
from activities.returns import ReturnActivities
from activities.subscriptions import SubscriptionActivities
from activities.support import SupportActivities
from adapters.factory import Adapters, build_adapters
from config import DEV_CUSTOMER_TOKEN_SECRET, DEV_UNSUBSCRIBE_SECRET, Settings, get_settings
from db.engine import make_engine
from models.customer_tokens import CustomerTokens, StorefrontLinks
from models.fulfillment import FulfillmentPolicy
from models.reconciliation import ReconciliationInput
from models.routing import DEFAULT_DISTANCES
from models.unsubscribe import UnsubscribeLinks
from workflows.abandoned_cart import AbandonedCartWorkflow
from workflows.checkout import CheckoutWorkflow
from workflows.dispute import DisputeWorkflow
from workflows.order_support import OrderSupportWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.returns import ReturnWorkflow
from workflows.fulfillment import FulfillmentWorkflow
from workflows.shipment import ShipmentWorkflow
from workflows.subscription import SubscriptionWorkflow

log = structlog.get_logger("orderflow.worker")

WORKFLOWS = [CheckoutWorkflow, FulfillmentWorkflow, ShipmentWorkflow, DisputeWorkflow, OrderSupportWorkflow,
             ReturnWorkflow, SubscriptionWorkflow, AbandonedCartWorkflow, ReconciliationWorkflow]
RECONCILIATION_SCHEDULE_ID = "reconciliation"
# How long `--processes N` waits for each worker process to finish its tasks after a stop signal.
STOP_TIMEOUT = 30.0


DEV_STOREFRONT_LINKS = StorefrontLinks(CustomerTokens(DEV_CUSTOMER_TOKEN_SECRET), "http://127.0.0.1:8000")


def fulfillment_policy(settings: Settings) -> FulfillmentPolicy:
    return FulfillmentPolicy(**{name: getattr(settings, name) for name in FulfillmentPolicy.model_fields})


def build_activities(engine: AsyncEngine, adapters: Adapters, policy: FulfillmentPolicy | None = None,
                     distances: Mapping[str, Mapping[str, int]] | None = None,
                     unsubscribe: UnsubscribeLinks | None = None,
                     links: StorefrontLinks | None = DEV_STOREFRONT_LINKS) -> list:
    """``unsubscribe`` and ``links`` default to development ones (the dev secrets), which tests' APIs verify too;
    ``links=None``: customer email without links to the storefront."""
    unsubscribe = unsubscribe or UnsubscribeLinks(DEV_UNSUBSCRIBE_SECRET, "http://127.0.0.1:8000")
    payments = PaymentActivities(engine, adapters.payment)
    support = SupportActivities(engine, payments, adapters.tax)
    instances = [
        CartActivities(engine), PricingActivities(engine), TaxActivities(adapters.tax),
        ShippingActivities(adapters.shipping, engine), InventoryActivities(engine), payments,
        OrderActivities(engine),
        FulfillmentActivities(engine, payments, policy or FulfillmentPolicy(), distances or DEFAULT_DISTANCES),
        ShipmentActivities(engine, adapters.shipping, adapters.tax),
        NotificationActivities(engine, adapters.email, links),
        support,
        ReturnActivities(engine, adapters.shipping, support),
        SubscriptionActivities(engine, payments, adapters.payment, adapters.email),
        FraudActivities(engine), CartRecoveryActivities(engine, adapters.email, unsubscribe, links),
        DisputeActivities(engine), ReconciliationActivities(engine, adapters.payment, payments),
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
                 links: StorefrontLinks | None = DEV_STOREFRONT_LINKS) -> Worker:
    return Worker(
        client, task_queue=task_queue, workflows=WORKFLOWS,
        activities=build_activities(engine, adapters, policy, distances, unsubscribe, links),
    )


async def run_worker(settings: Settings | None = None) -> None:
    from temporal_client import connect

    settings = settings or get_settings()
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set (make dev sets it for the embedded PostgreSQL)")
    engine = make_engine(settings.database_url)
    client = await connect(settings, runtime=metrics_runtime(settings))
    worker = build_worker(client, settings.task_queue, engine, build_adapters(settings),
                          fulfillment_policy(settings), settings.routing_distances, settings.unsubscribe_links,
                          settings.storefront_links)
    await ensure_reconciliation_schedule(client, settings)
    log.info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_address)
    sweeper = asyncio.create_task(run_sweeper(engine, settings.reservation_sweep_seconds))
    try:
        await worker.run()
    finally:
        sweeper.cancel()
        await engine.dispose()


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


async def ensure_reconciliation_schedule(client: Client, settings: Settings) -> None:
    """Create the schedule, or bring an existing one to these settings: safe from any number of workers
    starting at once (one creates, the others update to the same thing)."""
    schedule = reconciliation_schedule(settings)
    try:
        await client.create_schedule(RECONCILIATION_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(RECONCILIATION_SCHEDULE_ID).update(
            lambda current: ScheduleUpdate(schedule=dataclasses.replace(
                schedule, state=current.description.schedule.state)))  # a pause by ops stays
    log.info("reconciliation scheduled", every_seconds=settings.reconciliation_interval_seconds)


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
        for child in children:
            child.join(STOP_TIMEOUT)
            if child.is_alive():
                log.warning("worker process did not stop in time; killing it", pid=child.pid)
                child.kill()
                child.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if failed else 0


def _serve(settings: Settings) -> None:
    """One worker in this process until SIGINT/SIGTERM (cancelled, the Temporal worker shuts down gracefully)."""

    async def until_signalled() -> None:
        task = asyncio.ensure_future(run_worker(settings))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(until_signalled())


def _child(settings: Settings) -> None:
    from cli import exit_now
    from logging_setup import configure_logging

    configure_logging(settings.log_level, settings.log_json)
    _serve(settings)
    exit_now(0)  # skip finalization, which the SDK's Rust threads can abort


if __name__ == "__main__":
    asyncio.run(run_worker())
