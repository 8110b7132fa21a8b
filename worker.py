"""Temporal worker: registers every workflow and activity on the orderflow task queue."""

import asyncio
from collections.abc import Mapping

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.checkout import (
    CartActivities, InventoryActivities, OrderActivities, PaymentActivities, PricingActivities,
    ShippingActivities, TaxActivities,
)
from activities.sweeper import run_sweeper
from activities.fulfillment import FulfillmentActivities, ShipmentActivities
from activities.notifications import NotificationActivities
from activities.support import SupportActivities
from adapters.factory import Adapters, build_adapters
from config import Settings, get_settings
from db.engine import make_engine
from models.fulfillment import FulfillmentPolicy
from models.routing import DEFAULT_DISTANCES
from workflows.checkout import CheckoutWorkflow
from workflows.dispute import DisputeWorkflow
from workflows.order_support import OrderSupportWorkflow
from workflows.fulfillment import FulfillmentWorkflow
from workflows.shipment import ShipmentWorkflow

log = structlog.get_logger("orderflow.worker")

WORKFLOWS = [CheckoutWorkflow, FulfillmentWorkflow, ShipmentWorkflow, DisputeWorkflow, OrderSupportWorkflow]


def fulfillment_policy(settings: Settings) -> FulfillmentPolicy:
    return FulfillmentPolicy(**{name: getattr(settings, name) for name in FulfillmentPolicy.model_fields})


def build_activities(engine: AsyncEngine, adapters: Adapters, policy: FulfillmentPolicy | None = None,
                     distances: Mapping[str, Mapping[str, int]] | None = None) -> list:
    payments = PaymentActivities(engine, adapters.payment)
    instances = [
        CartActivities(engine), PricingActivities(engine), TaxActivities(adapters.tax),
        ShippingActivities(adapters.shipping, engine), InventoryActivities(engine), payments,
        OrderActivities(engine),
        FulfillmentActivities(engine, payments, policy or FulfillmentPolicy(), distances or DEFAULT_DISTANCES),
        ShipmentActivities(engine, adapters.shipping, adapters.tax),
        NotificationActivities(engine, adapters.email),
        SupportActivities(engine, payments, adapters.tax),
    ]
    return [
        getattr(instance, name)
        for instance in instances
        for name in dir(type(instance))
        if hasattr(getattr(type(instance), name), "__temporal_activity_definition")
    ]


def build_worker(client: Client, task_queue: str, engine: AsyncEngine, adapters: Adapters,
                 policy: FulfillmentPolicy | None = None,
                 distances: Mapping[str, Mapping[str, int]] | None = None) -> Worker:
    return Worker(
        client, task_queue=task_queue, workflows=WORKFLOWS,
        activities=build_activities(engine, adapters, policy, distances),
    )


async def run_worker(settings: Settings | None = None) -> None:
    from temporal_client import connect

    settings = settings or get_settings()
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set (make dev sets it for the embedded PostgreSQL)")
    engine = make_engine(settings.database_url)
    client = await connect(settings)
    worker = build_worker(client, settings.task_queue, engine, build_adapters(settings),
                          fulfillment_policy(settings), settings.routing_distances)
    log.info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_address)
    sweeper = asyncio.create_task(run_sweeper(engine, settings.reservation_sweep_seconds))
    try:
        await worker.run()
    finally:
        sweeper.cancel()
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(run_worker())
