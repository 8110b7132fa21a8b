"""Activities the checkout saga runs, one class per adapter it calls."""

from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.errors import raises_business_errors
from adapters.ports import ShippingCarrier, TaxCalculator
from db import carts as cart_store
from db import checkouts as checkout_store
from db import inventory
from db import orders as order_store
from db import pricing
from db import promotions as promotion_store
from db import switches
from models.commerce import (
    Address, CartSnapshot, DisputeNotice, OrderDraft, PricedCart, PricedLine, Reservation, ShippingRate,
    TaxQuote,
)
from models.errors import DomainError, IllegalTransition
from models.money import percent_of
from models.order_state import OrderStatus
from models.promotions import PromoLine

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
        """Reprice every line at today's price (price lists included), then apply promotions and the
        cart's codes. Lines no longer for sale, or codes no longer usable, fail the checkout."""
        now = datetime.now(UTC)
        async with self.engine.connect() as conn:
            email = await pricing.checkout_email(conn, cart.cart_id)
            context = await pricing.cart_context(conn, cart.cart_id, now, email=email)
            current = await pricing.unit_prices(conn, [line.sku for line in cart.lines], context, now)
            missing = sorted(line.sku for line in cart.lines if line.sku not in current)
            if missing:
                raise DomainError(f"no longer for sale: {', '.join(missing)}", code="sku_not_sellable",
                                  details={"skus": missing})
            result = await pricing.price_lines(conn, [
                PromoLine(sku=line.sku, quantity=line.quantity, unit_price=current[line.sku].price,
                          category=current[line.sku].category) for line in cart.lines], context, now)
            for code in result.codes:  # fail early when used up; create_order counts the use under a row lock
                await promotion_store.check_code(conn, code, now, email)
        lines = [
            PricedLine(sku=line.sku, title=line.title, quantity=line.quantity, unit_price=priced.unit_price,
                       line_subtotal=priced.subtotal, discount=priced.discount, weight_grams=line.weight_grams)
            for line, priced in zip(cart.lines, result.lines)
        ]
        repriced = sorted(line.sku for line in cart.lines if current[line.sku].price != line.unit_price)
        return PricedCart(cart_id=cart.cart_id, currency=cart.currency, lines=lines, subtotal=result.subtotal,
                          discount_total=result.discount_total, repriced_skus=repriced,
                          shipping_discount_bp=result.shipping_discount_bp, promotions=result.applied)


class TaxActivities:
    def __init__(self, tax: TaxCalculator):
        self.tax = tax

    @activity.defn
    @raises_business_errors
    async def quote_tax(self, cart: PricedCart, address: Address, shipping_amount: int, document_code: str) -> TaxQuote:
        return await self.tax.quote(cart=cart, address=address, shipping_amount=shipping_amount,
                                    document_code=document_code)

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
        if speed in switched_off:
            raise DomainError(f"{speed} shipping is switched off right now", code="shipping_method_disabled")
        # An undeliverable address fails the checkout here (address_invalid), before stock or money moves;
        # rates are quoted for the carrier's corrected form of it.
        address = await self.carrier.verify_address(address=address)
        rates = await self.carrier.rates(cart=cart, address=address)
        matching = [rate for rate in rates if rate.service == speed]
        if not matching:
            raise DomainError(f"no {speed!r} shipping to {address.country}", code="shipping_unavailable",
                              details={"offered": sorted({rate.service for rate in rates})})
        best = min(matching, key=lambda rate: (rate.amount, rate.estimated_days))
        # Promotions (free shipping): the workflow adds the rate as is, so it must already be discounted.
        return best.model_copy(update={"amount": best.amount - percent_of(best.amount, cart.shipping_discount_bp)})


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
