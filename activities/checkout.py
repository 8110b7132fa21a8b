"""Activities the checkout saga runs, one class per adapter it calls."""

from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.errors import raises_business_errors
from adapters.ports import PaymentGateway, ShippingCarrier, TaxCalculator
from db import carts as cart_store
from db import catalog
from db import checkouts as checkout_store
from db import inventory
from db import orders as order_store
from db import payments as ledger
from models.commerce import (
    Address, CartSnapshot, OrderDraft, PaymentAuthorization, PricedCart, PricedLine, Reservation, ShippingRate,
    TaxQuote,
)
from models.errors import DomainError, PaymentDeclined

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
        """Reprice every line at today's price; lines no longer for sale fail the checkout."""
        async with self.engine.connect() as conn:
            current = await catalog.current_prices(conn, [line.sku for line in cart.lines], cart.currency)
        missing = sorted(line.sku for line in cart.lines if line.sku not in current)
        if missing:
            raise DomainError(f"no longer for sale: {', '.join(missing)}", code="sku_not_sellable",
                              details={"skus": missing})
        lines = [
            PricedLine(sku=line.sku, title=line.title, quantity=line.quantity, unit_price=current[line.sku],
                       line_subtotal=current[line.sku] * line.quantity, weight_grams=line.weight_grams)
            for line in cart.lines
        ]
        repriced = sorted(line.sku for line in cart.lines if current[line.sku] != line.unit_price)
        return PricedCart(cart_id=cart.cart_id, currency=cart.currency, lines=lines,
                          subtotal=sum(line.line_subtotal for line in lines), repriced_skus=repriced)


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
    def __init__(self, carrier: ShippingCarrier):
        self.carrier = carrier

    @activity.defn
    @raises_business_errors
    async def quote_shipping(self, cart: PricedCart, address: Address, speed: str) -> ShippingRate:
        rates = await self.carrier.rates(cart=cart, address=address)
        matching = [rate for rate in rates if rate.service == speed]
        if not matching:
            raise DomainError(f"no {speed!r} shipping to {address.country}", code="shipping_unavailable",
                              details={"offered": sorted({rate.service for rate in rates})})
        return min(matching, key=lambda rate: (rate.amount, rate.estimated_days))


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
    """Every call goes through our ledger first: a replayed key returns the recorded outcome."""

    def __init__(self, engine: AsyncEngine, gateway: PaymentGateway):
        self.engine = engine
        self.gateway = gateway

    @activity.defn
    @raises_business_errors
    async def authorize_payment(self, payment_ref: str, amount: int, currency: str, payment_method: str,
                                idempotency_key: str) -> PaymentAuthorization:
        req_hash = ledger.request_hash(amount=amount, currency=currency, payment_method=payment_method)
        async with self.engine.connect() as conn:
            prior = await ledger.recorded(conn, idempotency_key, req_hash)
        if prior is None:
            prior = await self._authorize_and_record(payment_ref, amount, currency, payment_method,
                                                     idempotency_key, req_hash)
        if prior.status == "declined":
            raise PaymentDeclined(prior.error_message or "the card was declined",
                                  details={"decline_code": prior.error_code})
        return PaymentAuthorization(provider=prior.provider, authorization_id=prior.provider_ref,
                                    amount=prior.amount, currency=prior.currency, status=prior.status)

    async def _authorize_and_record(self, payment_ref, amount, currency, payment_method, key, req_hash):
        fields = dict(idempotency_key=key, req_hash=req_hash, payment_ref=payment_ref, kind="authorize",
                      provider=self.gateway.name, amount=amount, currency=currency)
        try:
            result = await self.gateway.authorize(amount=amount, currency=currency, payment_method=payment_method,
                                                  idempotency_key=key, reference=payment_ref)
        except PaymentDeclined as declined:
            async with self.engine.begin() as conn:
                return await ledger.record(conn, **fields, provider_ref=None, status="declined",
                                           error_code=declined.details.get("decline_code", declined.code),
                                           error_message=declined.message)
        async with self.engine.begin() as conn:
            return await ledger.record(conn, **fields, provider_ref=result.provider_ref, status="authorized")

    @activity.defn
    async def void_authorization(self, payment_ref: str, authorization: PaymentAuthorization,
                                 idempotency_key: str) -> None:
        req_hash = ledger.request_hash(authorization_id=authorization.authorization_id)
        async with self.engine.connect() as conn:
            if await ledger.recorded(conn, idempotency_key, req_hash):
                return
        result = await self.gateway.void(provider_ref=authorization.authorization_id, idempotency_key=idempotency_key)
        async with self.engine.begin() as conn:
            await ledger.record(conn, idempotency_key=idempotency_key, req_hash=req_hash, payment_ref=payment_ref,
                                kind="void", provider=self.gateway.name, provider_ref=result.provider_ref,
                                amount=authorization.amount, currency=authorization.currency, status="voided")


class OrderActivities:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    @activity.defn
    @raises_business_errors
    async def create_order(self, draft: OrderDraft) -> str:
        async with self.engine.begin() as conn:
            created = await order_store.create_from_checkout(conn, draft)
        log.info("order created" if created else "order already recorded", order_id=draft.order_id,
                 checkout_id=draft.checkout_id, total=draft.total, currency=draft.currency)
        return draft.order_id

    @activity.defn
    async def fail_checkout(self, checkout_id: str, code: str, message: str) -> None:
        async with self.engine.begin() as conn:
            await checkout_store.finish(conn, checkout_id, status="failed", error_code=code, error_message=message)
        log.info("checkout failed", checkout_id=checkout_id, code=code)
