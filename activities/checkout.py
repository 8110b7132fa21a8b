"""Activities the checkout saga runs, one class per adapter it calls."""

from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities import quoting
from activities.errors import raises_business_errors
from adapters.ports import ShippingCarrier, TaxCalculator
from db import carts as cart_store
from db import checkouts as checkout_store
from db import inventory
from db import orders as order_store
from db import switches
from models.commerce import (
    Address, CartSnapshot, DisputeNotice, OrderDraft, PricedCart, Reservation, ShippingRate,
    TaxQuote,
)
from models import workflow_ids
from models.errors import DomainError, IllegalTransition
from models.fulfillment import FulfillmentInput
from models.order_state import OrderStatus
from workflows import search_attributes as sa

log = structlog.get_logger("orderflow.activities")


class CartActivities:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    @activity.defn
    @raises_business_errors
    async def begin_checkout(self, cart_id: str, checkout_id: str) -> CartSnapshot:
        async with self.engine.begin() as conn:
            return await cart_store.begin_checkout(conn, cart_id, checkout_id)

    @activity.defn
    async def reopen_cart(self, cart_id: str, checkout_id: str) -> None:
        async with self.engine.begin() as conn:
            await cart_store.reopen(conn, cart_id, checkout_id)


class PricingActivities:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    @activity.defn
    @raises_business_errors
    async def price_cart(self, cart: CartSnapshot) -> PricedCart:
        """Today's prices, promotions and codes (activities/quoting.py, shared with quotes); lines no longer
        for sale, or codes no longer usable, fail the checkout."""
        async with self.engine.connect() as conn:
            return await quoting.price_for_checkout(conn, cart, datetime.now(UTC))


class TaxActivities:
    def __init__(self, tax: TaxCalculator):
        self.tax = tax

    @activity.defn
    @raises_business_errors
    async def quote_tax(self, cart: PricedCart, address: Address, shipping_amount: int, document_code: str) -> TaxQuote:
        return await quoting.tax_quote(self.tax, cart, address, shipping_amount, document_code)

    @activity.defn
    async def void_tax(self, document_code: str) -> None:
        await self.tax.void(document_code=document_code)


class ShippingActivities:
    def __init__(self, carrier: ShippingCarrier, engine: AsyncEngine):
        self.carrier = carrier
        self.engine = engine

    @activity.defn
    @raises_business_errors
    async def quote_shipping(self, cart: PricedCart, address: Address, speed: str) -> ShippingRate:
        async with self.engine.connect() as conn:
            switched_off = await switches.disabled(conn, "shipping_method")
        chosen, _ = await quoting.shipping_rates(self.carrier, cart, address, speed, switched_off)
        return chosen


class InventoryActivities:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    @activity.defn
    @raises_business_errors
    async def reserve_inventory(self, reservation_key: str, wanted: dict[str, int], now: datetime,
                                ttl_seconds: int) -> Reservation:
        async with self.engine.begin() as conn:
            return await inventory.reserve(conn, reservation_key, wanted, now=now,
                                           expires_at=now + timedelta(seconds=ttl_seconds))

    @activity.defn
    async def release_reservation(self, reservation_key: str) -> int:
        async with self.engine.begin() as conn:
            return await inventory.release(conn, reservation_key)


def count_checkout(outcome: str, code: str = "") -> None:
    """``orderflow_checkouts_total{outcome,code}`` on the worker's metrics endpoint (the Temporal runtime's
    Prometheus exporter, WORKER_METRICS_PORT); a no-op where the runtime exports no metrics."""
    if activity.in_activity():
        counter = activity.metric_meter().create_counter("orderflow_checkouts_total", "Checkouts ended, by outcome")
        counter.with_additional_attributes({"outcome": outcome, "code": code}).add(1)


async def start_fulfillment(order_id: str, email: str) -> None:
    """Start the order's FulfillmentWorkflow on this worker's task queue, once (REJECT_DUPLICATE).

    One client call instead of a child workflow: the checkout does not wait a workflow task for the child's
    start, and the order outlives its checkout either way (the child was ABANDONed; nothing reads its parent)."""
    try:
        await activity.client().start_workflow(
            "FulfillmentWorkflow", FulfillmentInput(order_id=order_id), id=workflow_ids.order(order_id),
            task_queue=activity.info().task_queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=sa.of_order(order_id, email))
    except WorkflowAlreadyStartedError:
        pass  # an earlier attempt started it


class OrderActivities:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    @activity.defn
    @raises_business_errors
    async def create_order(self, draft: OrderDraft) -> str:
        async with self.engine.begin() as conn:
            created = await order_store.create_from_checkout(conn, draft)
        if created:
            count_checkout("completed")
        if draft.start_fulfillment:  # after the commit, on every attempt: a start already made is a no-op
            await start_fulfillment(draft.order_id, draft.email)
        log.info("order created" if created else "order already recorded", order_id=draft.order_id,
                 checkout_id=draft.checkout_id, total=draft.total, currency=draft.currency)
        return draft.order_id

    @activity.defn
    async def record_dispute(self, notice: DisputeNotice) -> str:
        """Mark the order disputed; a state that cannot be disputed still gets the event."""
        data = notice.model_dump(mode="json")
        event_id = f"{notice.dispute_id}:opened"
        try:
            async with self.engine.begin() as conn:
                await order_store.append_event(conn, notice.order_id, event_id, "payment.disputed",
                                               to_status=OrderStatus.DISPUTED, data=data)
        except IllegalTransition as refused:
            log.warning("dispute on an order that cannot enter disputed", order_id=notice.order_id,
                        reason=refused.message)
            async with self.engine.begin() as conn:
                await order_store.append_event(conn, notice.order_id, event_id, "payment.disputed", data=data)
        async with self.engine.connect() as conn:
            return (await order_store.get_order(conn, notice.order_id))["order"]["status"]

    @activity.defn
    async def order_recorded(self, checkout_id: str) -> bool:
        """Whether the checkout's order exists: create_order completes the checkout row in the order's own
        transaction, so an unanswered create_order is settled by reading the row."""
        async with self.engine.connect() as conn:
            return (await checkout_store.get(conn, checkout_id)).status == "completed"

    @activity.defn
    async def fail_checkout(self, checkout_id: str, code: str, message: str) -> None:
        async with self.engine.begin() as conn:
            finished = await checkout_store.finish(conn, checkout_id, status="failed", error_code=code,
                                                   error_message=message)
        if finished:
            count_checkout("failed", code)
        log.info("checkout failed", checkout_id=checkout_id, code=code)
