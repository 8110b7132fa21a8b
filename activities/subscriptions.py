"""Activities of subscription renewals: stock, price, off-session charge, the order, the record, emails."""

from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.payments_service import PaymentService
from activities.errors import raises_business_errors
from adapters.ports import EmailSender, PaymentGateway
from db import catalog, inventory
from db import payments as ledger
from db import subscriptions as store
from db import suppressions
from db.tables import variants
from models.commerce import OrderDraft, PaymentAuthorization, PricedCart, PricedLine, Reservation
from models.errors import DomainError, OutOfStock
from models.money import allocate, percent_of
from models.subscriptions import RenewalOrder, SubscriptionEvent, SubscriptionView, payment_failed_email

log = structlog.get_logger("orderflow.subscriptions")


class SubscriptionActivities:
    def __init__(self, engine: AsyncEngine, payments: PaymentService, gateway: PaymentGateway,
                 sender: EmailSender):
        self.engine = engine
        self.payments = payments
        self.gateway = gateway
        self.sender = sender

    @activity.defn
    async def record(self, current: SubscriptionView, event: SubscriptionEvent | None) -> None:
        """Keep the subscription's row current (newest version wins) and append the event once."""
        async with self.engine.begin() as conn:
            await store.record(conn, current, event)

    @activity.defn
    @raises_business_errors
    async def reserve_renewal(self, key: str, wanted: dict[str, int], now: datetime, ttl_seconds: int,
                              ship_available: bool) -> Reservation:
        """Hold the cycle's stock under ``key``; with ``ship_available``, whatever part of it is in stock."""
        async with self.engine.begin() as conn:
            if ship_available and not await inventory.existing_reservation(conn, key):
                await inventory.expire_due(conn, now=now, skus=wanted.keys())
                levels = await inventory.lock_levels(conn, wanted)
                in_stock = {sku: sum(level.atp for level in levels if level.sku == sku) for sku in wanted}
                wanted = {sku: min(quantity, in_stock[sku]) for sku, quantity in wanted.items() if in_stock[sku]}
                if not wanted:
                    raise OutOfStock("nothing of this subscription is in stock", details={"skus": sorted(in_stock)})
            return await inventory.reserve(conn, key, wanted, now=now, expires_at=now + timedelta(seconds=ttl_seconds))

    @activity.defn
    @raises_business_errors
    async def price_renewal(self, subscription_id: str, currency: str, quantities: dict[str, int],
                            discount_bp: int) -> PricedCart:
        """Today's prices minus the subscription's discount (spread over the lines to the cent)."""
        skus = sorted(quantities)
        async with self.engine.connect() as conn:
            current = await catalog.current_prices(conn, skus, currency)
            details = {r.sku: r for r in await conn.execute(
                select(variants.c.sku, variants.c.title, variants.c.weight_grams).where(variants.c.sku.in_(skus)))}
        missing = [sku for sku in skus if sku not in current]
        if missing:
            raise DomainError(f"no longer for sale: {', '.join(missing)}", code="sku_not_sellable",
                              details={"skus": missing})
        subtotals = [current[sku] * quantities[sku] for sku in skus]
        discounts = allocate(percent_of(sum(subtotals), discount_bp), subtotals)
        lines = [PricedLine(sku=sku, title=details[sku].title, quantity=quantities[sku], unit_price=current[sku],
                            line_subtotal=subtotal, discount=discount, weight_grams=details[sku].weight_grams)
                 for sku, subtotal, discount in zip(skus, subtotals, discounts)]
        return PricedCart(cart_id=subscription_id, currency=currency, lines=lines, subtotal=sum(subtotals),
                          discount_total=sum(discounts))

    @activity.defn
    @raises_business_errors
    async def charge_renewal(self, payment_ref: str, customer_ref: str, payment_method: str, amount: int,
                             currency: str, idempotency_key: str) -> PaymentAuthorization:
        """Charge the saved method off-session, through our ledger (kind ``charge``: captured at once)."""
        return await self.payments.charge_off_session(payment_ref, customer_ref, payment_method, amount, currency,
                                                      idempotency_key)

    @activity.defn
    @raises_business_errors
    async def create_renewal_order(self, draft: OrderDraft, renewal: RenewalOrder) -> str:
        async with self.engine.begin() as conn:
            created = await store.create_renewal_order(
                conn, draft, subscription_id=renewal.subscription_id, cycle=renewal.cycle,
                renewal_date=renewal.renewal_date, payment_ref=renewal.payment_ref)
        log.info("renewal order created" if created else "renewal order already recorded", order_id=draft.order_id,
                 subscription_id=renewal.subscription_id, cycle=renewal.cycle, total=draft.total)
        return draft.order_id

    @activity.defn
    @raises_business_errors
    async def save_payment_method(self, email: str, payment_method: str, idempotency_key: str) -> str:
        """A provider customer holding the new method (the port has no attach); returns its ref."""
        customer = await self.gateway.create_customer(email=email, payment_method=payment_method,
                                                      idempotency_key=idempotency_key)
        return customer.customer_ref

    @activity.defn
    @raises_business_errors
    async def send_payment_failed(self, subscription_id: str, cycle: int, attempt: int, amount: int | None,
                                  next_retry_at: datetime | None) -> bool:
        """Tell the customer a renewal charge failed; at most once per (cycle, attempt) as far as we know."""
        event_id = f"cycle-{cycle}:payment-failed-{attempt}:email"
        async with self.engine.connect() as conn:
            if await store.has_event(conn, subscription_id, event_id):
                return False
            row = await store.get(conn, subscription_id)
            if await suppressions.is_suppressed(conn, row.email):  # unsubscribed: no email, as for every other
                log.info("payment failed email suppressed", subscription_id=subscription_id, cycle=cycle)
                return False
            declined = [op for op in await ledger.operations_for(conn, f"{subscription_id}:cycle-{cycle}")
                        if op.kind == "charge" and op.status == "failed"]
        message = payment_failed_email(subscription_id=subscription_id, email=row.email,
                                       name=row.shipping_address.get("name"), cycle=cycle, attempt=attempt,
                                       amount=amount, currency=row.currency, next_retry_at=next_retry_at,
                                       decline_code=declined[-1].error_code if declined else None)
        message_id = await self.sender.send(message)
        async with self.engine.begin() as conn:
            await store.append_event(conn, subscription_id, SubscriptionEvent(
                event_id=event_id, type="email.payment_failed", data={"attempt": attempt, "message_id": message_id}))
        log.info("payment failed email sent", subscription_id=subscription_id, cycle=cycle, attempt=attempt)
        return True
