"""Activities the checkout saga runs, one class per adapter it calls."""

import asyncio
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities import quoting
from activities.errors import raises_business_errors
from adapters.ports import PaymentGateway, ShippingCarrier, TaxCalculator
from db import carts as cart_store
from db import checkouts as checkout_store
from db import inventory
from db import orders as order_store
from db import payments as ledger
from db import pricing
from db import switches
from models.commerce import (
    Address, CartSnapshot, DisputeNotice, OrderDraft, PaymentAuthorization, PricedCart, Reservation, ShippingRate,
    TaxQuote,
)
from models.errors import DomainError, IllegalTransition, PaymentDeclined
from models.order_state import OrderStatus

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
        now = datetime.now(UTC)
        async with self.engine.connect() as conn:
            email = await pricing.checkout_email(conn, cart.cart_id)
            exemption = await checkout_store.tax_exemption_of_cart(conn, cart.cart_id)
            return await quoting.price_cart(conn, cart, email, now, exemption)


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


class PaymentActivities:
    """Every call goes through our ledger: limits are checked and the operation recorded as
    pending before the provider is called; a replayed key returns the recorded outcome."""

    # What a checkout whose authorization went unanswered tells the shopper, by settle_unanswered_authorization's
    # outcome (a plain mapping: the checkout workflow reads it).
    UNANSWERED_MESSAGES = {
        "nothing_held": "the payment service did not respond; nothing was charged",
        "released": "the payment service did not respond in time; the hold it placed on the card was released "
                    "and nothing was charged",
        "unsettled": "the payment service did not respond; nothing was charged, and any hold it may have placed "
                     "on the card will be released once it can be checked",
    }

    def __init__(self, engine: AsyncEngine, gateway: PaymentGateway):
        self.engine = engine
        self.gateway = gateway

    async def _operate(self, kind: str, payment_ref: str, amount: int, currency: str, key: str, call, **fields):
        req_hash = ledger.request_hash(kind=kind, amount=amount, currency=currency, **fields)
        async with self.engine.begin() as conn:
            operation = await ledger.begin(conn, idempotency_key=key, req_hash=req_hash, payment_ref=payment_ref,
                                           kind=kind, provider=self.gateway.name, amount=amount, currency=currency)
        result = None
        if operation.status == "pending":
            try:
                result = await _heartbeating(call)
            except DomainError as refused:
                async with self.engine.begin() as conn:
                    operation = await ledger.complete(conn, key, status="failed", error_code=refused.code,
                                                      error_message=refused.message)
            else:
                async with self.engine.begin() as conn:
                    if result.status == "requires_action":
                        operation = await ledger.note_provider_ref(conn, key, result.provider_ref)
                    else:
                        operation = await ledger.complete(conn, key, status="succeeded",
                                                          provider_ref=result.provider_ref,
                                                          multicapture=result.multicapture)
        _raise_if_failed(operation)
        log.info("payment operation", kind=kind, payment_ref=payment_ref, amount=amount, status=operation.status)
        return operation, result

    @activity.defn
    @raises_business_errors
    async def authorize_payment(self, payment_ref: str, amount: int, currency: str, payment_method: str,
                                idempotency_key: str) -> PaymentAuthorization:
        # Before anything is held: a checkout started with a quote or expected_total fails price_changed.
        await quoting.hold_to_agreed_total(self.engine, payment_ref, amount, currency)
        operation, result = await self._operate(
            "authorize", payment_ref, amount, currency, idempotency_key,
            lambda: self.gateway.authorize(amount=amount, currency=currency, payment_method=payment_method,
                                           idempotency_key=idempotency_key, reference=payment_ref),
            payment_method=payment_method,
        )
        authorization = PaymentAuthorization(provider=operation.provider, authorization_id=operation.provider_ref,
                                             amount=operation.amount, currency=operation.currency,
                                             multicapture=operation.multicapture)
        if operation.status == "pending" and result is not None and result.status == "requires_action":
            return authorization.model_copy(update={"status": "requires_action", "client_secret": result.client_secret,
                                                    "next_action_url": result.next_action_url})
        return authorization

    @activity.defn
    @raises_business_errors
    async def confirm_authorization(self, authorization: PaymentAuthorization,
                                    idempotency_key: str) -> PaymentAuthorization:
        """After 3-D Secure: ask the provider, and settle our pending authorize operation."""
        async with self.engine.connect() as conn:
            operation = await ledger.operation(conn, idempotency_key)
        if operation is not None and operation.status != "pending":
            _raise_if_failed(operation)
            return authorization.model_copy(update={"status": "authorized", "client_secret": None,
                                                    "multicapture": operation.multicapture})
        try:
            current = await self.gateway.retrieve(provider_ref=authorization.authorization_id)
        except DomainError as refused:
            async with self.engine.begin() as conn:
                operation = await ledger.complete(conn, idempotency_key, status="failed", error_code=refused.code,
                                                  error_message=refused.message)
            _raise_if_failed(operation)
        if current.status != "authorized":
            raise DomainError(f"payment is {current.status} after authentication", code="payment_not_authorized")
        async with self.engine.begin() as conn:
            await ledger.complete(conn, idempotency_key, status="succeeded", provider_ref=current.provider_ref,
                                  multicapture=current.multicapture)
        return authorization.model_copy(update={"status": "authorized", "client_secret": None,
                                                "multicapture": current.multicapture})

    @activity.defn
    @raises_business_errors
    async def void_authorization(self, payment_ref: str, authorization: PaymentAuthorization,
                                 idempotency_key: str) -> None:
        await self._operate(
            "void", payment_ref, authorization.amount, authorization.currency, idempotency_key,
            lambda: self.gateway.void(provider_ref=authorization.authorization_id, idempotency_key=idempotency_key),
            authorization_id=authorization.authorization_id,
        )

    @activity.defn
    @raises_business_errors
    async def capture_payment(self, payment_ref: str, authorization: PaymentAuthorization, amount: int,
                              idempotency_key: str) -> str:
        async def capture():
            async with self.engine.connect() as conn:
                settled = await ledger.totals(conn, payment_ref, counted=("succeeded",))
            # Only a capture that completes the authorization is final (it releases the rest of the hold).
            # Captures still in flight do not count: two parcels capturing at once must not both finalize.
            final = not authorization.multicapture or settled.captured + amount >= authorization.amount
            return await self.gateway.capture(provider_ref=authorization.authorization_id, amount=amount,
                                              currency=authorization.currency, idempotency_key=idempotency_key,
                                              final=final)

        operation, _ = await self._operate("capture", payment_ref, amount, authorization.currency, idempotency_key,
                                           capture, authorization_id=authorization.authorization_id)
        return operation.provider_ref

    @activity.defn
    @raises_business_errors
    async def refund_payment(self, payment_ref: str, authorization: PaymentAuthorization, amount: int,
                             idempotency_key: str) -> str:
        operation, _ = await self._operate(
            "refund", payment_ref, amount, authorization.currency, idempotency_key,
            lambda: self.gateway.refund(provider_ref=authorization.authorization_id, amount=amount,
                                        currency=authorization.currency, idempotency_key=idempotency_key),
            authorization_id=authorization.authorization_id,
        )
        return operation.provider_ref


    @activity.defn
    async def abandon_authorization(self, idempotency_key: str) -> None:
        """Checkouts before ``look-up-unanswered-authorization`` closed an unanswered authorization as failed
        without asking the provider; kept only so that their histories replay."""
        async with self.engine.begin() as conn:
            if await ledger.operation(conn, idempotency_key) is not None:
                await ledger.complete(conn, idempotency_key, status="failed", error_code="provider_unavailable",
                                      error_message="the provider did not answer within the checkout's budget")

    @activity.defn
    @raises_business_errors
    async def settle_unanswered_authorization(self, payment_ref: str, idempotency_key: str, void_key: str) -> str:
        """The checkout gave up on an authorization the provider never answered: ask the provider (same key and
        reference) what it did, release a hold it made (``void_key``) and settle our ledger accordingly.

        Returns ``nothing_held`` (it never acted, or refused), ``released`` (a hold was found and voided) or
        ``unsettled`` (it still cannot tell: the entry stays pending for reconciliation)."""
        async with self.engine.connect() as conn:
            operation = await ledger.operation(conn, idempotency_key)
        if operation is None or operation.status == "failed":
            return "nothing_held"  # never reached the provider, or it said no
        if operation.status == "pending":
            try:
                found = await self.gateway.lookup(kind="authorize", idempotency_key=idempotency_key,
                                                  reference=payment_ref, provider_ref=operation.provider_ref)
            except Exception as unknown:  # noqa: BLE001 - any trouble here means "cannot tell yet", never "no"
                log.warning("unanswered authorization still unknown", payment_ref=payment_ref, error=str(unknown))
                return "unsettled"
            operation = await self._settle_looked_up(idempotency_key, found)
            if operation.status == "failed":
                return "nothing_held"
        held = PaymentAuthorization(provider=operation.provider, authorization_id=operation.provider_ref,
                                    amount=operation.amount, currency=operation.currency)
        try:
            await self.void_authorization.__wrapped__(self, payment_ref, held, void_key)
        except DomainError as refused:  # the ledger shows the hold; reconciliation and ops take it from here
            log.error("could not release an unanswered authorization's hold", payment_ref=payment_ref,
                      code=refused.code)
            return "unsettled"
        return "released"

    async def _settle_looked_up(self, idempotency_key: str, found):
        async with self.engine.begin() as conn:
            if found is None:
                return await ledger.complete(conn, idempotency_key, status="failed", error_code="provider_unavailable",
                                             error_message="the provider did not answer and has no record of it")
            # Whatever it is now (authorized, awaiting 3-D Secure, already voided), the provider made a hold.
            return await ledger.complete(conn, idempotency_key, status="succeeded", provider_ref=found.provider_ref)


async def _heartbeating(call, every: float = 2.0):
    """Heartbeat while a (possibly slow) provider call runs, so that a worker dying mid-call is noticed
    within the activity's heartbeat timeout instead of its whole start-to-close timeout."""
    if not activity.in_activity():
        return await call()

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every)

    beater = asyncio.create_task(beat())
    try:
        return await call()
    finally:
        beater.cancel()


def count_checkout(outcome: str, code: str = "") -> None:
    """``orderflow_checkouts_total{outcome,code}`` on the worker's metrics endpoint (the Temporal runtime's
    Prometheus exporter, WORKER_METRICS_PORT); a no-op where the runtime exports no metrics."""
    if activity.in_activity():
        counter = activity.metric_meter().create_counter("orderflow_checkouts_total", "Checkouts ended, by outcome")
        counter.with_additional_attributes({"outcome": outcome, "code": code}).add(1)


def _raise_if_failed(operation) -> None:
    if operation.status == "failed":
        error = PaymentDeclined if operation.error_code == PaymentDeclined.code else DomainError
        raise error(operation.error_message or "the payment provider refused the operation",
                    code=operation.error_code)


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
