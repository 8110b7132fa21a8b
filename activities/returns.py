"""Activities of the returns (RMA) workflow."""

import uuid
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.errors import raises_business_errors
from activities.support import RefundService
from adapters.ports import ShippingCarrier
from db import fulfillment as fulfillment_store
from db import inventory
from db import orders as order_store
from db import payments as ledger
from db import returns as store
from models.commerce import Label, PricedCart, PricedLine, ShipmentRequest, TaxQuote
from models.errors import DomainError, IllegalTransition, PaymentDeclined
from models.fulfillment import FulfillmentPolicy
from models.ids import public_id
from models.money import allocate
from models.order_state import OrderStatus
from models.refunds import RefundCommand, RefundLine, RefundRequest, RefundResult, restocking_fee
from models.returns import (
    FEE_EXEMPT_REASONS, ExchangeCharge, ExchangeLine, ExchangeTerms, Inspection, ReturnInput, exchange_tax_document,
    replacement_units,
)

log = structlog.get_logger("orderflow.returns")
# An exchange's stock is held from approval through the ship-back time and this long for the inspection.
INSPECTION_ALLOWANCE = timedelta(days=14)
# Once inspected, the replacement's units stay held while its price difference is being charged.
EXCHANGE_STOCK_HOLD = timedelta(days=30)


def exchange_difference_key(rma_id: str) -> str:
    """The payment key of a dearer exchange's difference (its capture and void append to it)."""
    return f"{rma_id}:exchange-difference"


def return_refund_id(rma_id: str, purpose: str = "") -> str:
    """One refund per return (and one per exchange's price difference), whatever retries happen."""
    return public_id("refund", uuid.uuid5(uuid.NAMESPACE_URL, f"orderflow:return:{rma_id}{purpose}"))


class ReturnActivities:
    def __init__(self, engine: AsyncEngine, carrier: ShippingCarrier, refunds: RefundService):
        self.engine = engine
        self.carrier = carrier
        self.refunds = refunds

    @activity.defn
    async def set_return_status(self, rma_id: str, status: str, note: str | None, actor: str | None) -> None:
        async with self.engine.begin() as conn:
            values = {"note": note} if note else {}
            if actor:
                values["decided_by"] = actor
            await store.set_status(conn, rma_id, status, **values)

    @activity.defn
    @raises_business_errors
    async def buy_return_label(self, rma: ReturnInput) -> Label:
        async with self.engine.connect() as conn:
            row = await store.get(conn, rma.rma_id)
            if row.label:
                return Label(**row.label)
            order = await fulfillment_store.snapshot(conn, rma.order_id, FulfillmentPolicy())
        by_sku = {line.sku: line for line in order.lines}
        parcel = PricedCart(cart_id=rma.rma_id, currency=order.currency, subtotal=0, lines=[
            PricedLine(sku=line.sku, title=by_sku[line.sku].title, quantity=line.quantity, unit_price=0,
                       line_subtotal=0, weight_grams=by_sku[line.sku].weight_grams)
            for line in rma.lines])
        label = await self.carrier.buy_label(shipment=ShipmentRequest(cart=parcel, address=order.shipping_address),
                                             rate_id=order.shipping_rate_id or "standard",
                                             idempotency_key=f"{rma.rma_id}:label")
        async with self.engine.begin() as conn:
            await store.set_status(conn, rma.rma_id, "awaiting_return", label=label.model_dump(mode="json"))
        return label

    @activity.defn
    async def refund_return_label(self, rma_id: str) -> None:
        async with self.engine.connect() as conn:
            row = await store.get(conn, rma_id)
        if row.label:
            await self.carrier.refund_label(label_id=row.label["label_id"])

    @activity.defn
    async def mark_received(self, rma: ReturnInput) -> bool:
        """Record the parcel's arrival; the order becomes returned once every unit is back."""
        async with self.engine.begin() as conn:
            await store.set_status(conn, rma.rma_id, "received")
            back = await store.returned(conn, rma.order_id, statuses=("received", "inspected", "refunded",
                                                                       "exchanged", "completed"))
            all_back = back == await store.ordered(conn, rma.order_id)
            if all_back:
                try:
                    await order_store.append_event(conn, rma.order_id, f"{rma.rma_id}:all_returned",
                                                   "order.returned", to_status=OrderStatus.RETURNED)
                except IllegalTransition:
                    await order_store.append_event(conn, rma.order_id, f"{rma.rma_id}:all_returned",
                                                   "order.returned")
        return all_back

    @activity.defn
    @raises_business_errors
    async def apply_inspection(self, rma: ReturnInput, inspection: Inspection) -> None:
        """Resellable units go back on the shelf; refurbish and scrap are recorded, not restocked."""
        async with self.engine.begin() as conn:
            row = await store.get(conn, rma.rma_id, lock=True)
            if row.inspection is not None:
                return
            for unit in inspection.units:
                if unit.disposition == "resell":
                    location_id = await inventory.location_id_by_code(conn, unit.location_code)
                    await inventory.receive(conn, unit.sku, location_id, unit.quantity, reason="return",
                                            reference=rma.rma_id)
            await store.set_status(conn, rma.rma_id, "inspected",
                                   inspection=[unit.model_dump() for unit in inspection.units], note=inspection.note)

    @activity.defn
    @raises_business_errors
    async def refund_return(self, rma: ReturnInput, accepted: dict[str, int]) -> RefundResult:
        reasons = [line.reason for line in rma.lines if line.sku in accepted]
        lines = [RefundLine(sku=sku, quantity=quantity) for sku, quantity in sorted(accepted.items())]
        async with self.engine.connect() as conn:
            order = await fulfillment_store.snapshot(conn, rma.order_id, FulfillmentPolicy())
        by_sku = {line.sku: line for line in order.lines}
        value = sum((by_sku[line.sku].line_total + by_sku[line.sku].tax) * line.quantity // by_sku[line.sku].quantity
                    for line in lines)
        fee = restocking_fee(value, rma.policy.restocking_fee_bp, reasons, FEE_EXEMPT_REASONS)
        command = RefundCommand(refund_id=return_refund_id(rma.rma_id), order_id=rma.order_id,
                                request=RefundRequest(lines=lines, fee=fee, reason=f"return {rma.rma_id}"),
                                actor="returns")
        result = await self.refunds.issue(command)
        async with self.engine.begin() as conn:
            await store.set_status(conn, rma.rma_id, "refunded", refund_id=result.refund_id)
        return result

    @activity.defn
    @raises_business_errors
    async def create_exchange_order(self, rma: ReturnInput, accepted: dict[str, int], order_id: str,
                                    terms: ExchangeTerms | None = None, charged: ExchangeCharge | None = None) -> str:
        """The replacement order (``terms``: the variants chosen; without them the same SKUs, as before)."""
        async with self.engine.begin() as conn:
            row = await store.get(conn, rma.rma_id, lock=True)
            if row.replacement_order_id:
                return row.replacement_order_id
            original = await fulfillment_store.order_row(conn, rma.order_id)
            await store.create_exchange_order(conn, order_id=order_id, rma_id=rma.rma_id, original=original,
                                              units=terms.replacement if terms else accepted, now=datetime.now(UTC),
                                              charged=charged)
            await store.set_status(conn, rma.rma_id, "exchanged", replacement_order_id=order_id)
        log.info("exchange order created", rma_id=rma.rma_id, order_id=order_id)
        return order_id

    # ---- exchanges for another variant

    @activity.defn
    @raises_business_errors
    async def hold_exchange_stock(self, rma: ReturnInput) -> None:
        """At approval: hold every replacement unit asked for until the parcel is back and inspected
        (OutOfStock when they are gone since the request: nothing is held then)."""
        now = datetime.now(UTC)
        units = replacement_units(rma.lines, {line.sku: line.quantity for line in rma.lines})
        expires_at = now + timedelta(seconds=rma.policy.ship_back_seconds) + INSPECTION_ALLOWANCE
        async with self.engine.begin() as conn:
            await store.hold_exchange_stock(conn, rma.rma_id, units, now=now, expires_at=expires_at)

    @activity.defn
    async def release_exchange_stock(self, rma_id: str) -> int:
        """The exchange will not ship (return expired, payment declined, refunded instead): give its stock back."""
        async with self.engine.begin() as conn:
            released = await store.release_exchange_stock(conn, rma_id)
        log.info("exchange stock released", rma_id=rma_id, units=released)
        return released

    @activity.defn
    @raises_business_errors
    async def prepare_exchange(self, rma: ReturnInput, accepted: dict[str, int]) -> ExchangeTerms:
        """Price the accepted units' replacement at today's prices and hold exactly its units."""
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            order = await fulfillment_store.order_row(conn, rma.order_id)
            terms = await store.price_exchange(conn, order, rma.lines, accepted)
            await store.secure_exchange_stock(conn, rma.rma_id, terms.replacement, now=now,
                                              expires_at=now + EXCHANGE_STOCK_HOLD)
        return terms

    @activity.defn
    @raises_business_errors
    async def charge_exchange_difference(self, rma: ReturnInput, terms: ExchangeTerms) -> ExchangeCharge:
        """Authorize and capture a dearer variant's difference on the card the order was paid with, under keys
        derived from the return (a retry or an unknown outcome asks again under the same keys)."""
        payments, ref, key = self.refunds.payments, store.exchange_key(rma.rma_id), exchange_difference_key(rma.rma_id)
        async with self.engine.connect() as conn:
            order = await fulfillment_store.order_row(conn, rma.order_id)
        hold = await payments.authorize(ref, terms.difference, terms.currency, order.payment_method or "", key,
                                        customer_ref=order.payment_customer_ref)  # the card saved at checkout
        if hold.status == "requires_action":  # nobody is at the keyboard to authenticate: it holds no money
            async with self.engine.begin() as conn:
                await ledger.complete(conn, key, status="failed", provider_ref=hold.authorization_id,
                                      error_code="authentication_required",
                                      error_message="the card holder must authenticate this payment")
            raise PaymentDeclined("the card holder must authenticate this payment", code="authentication_required")
        try:
            await payments.capture(ref, hold, terms.difference, f"{key}:capture")
        except DomainError:
            await payments.void(ref, hold, f"{key}:void")
            raise
        log.info("exchange difference charged", rma_id=rma.rma_id, amount=terms.difference)
        return ExchangeCharge(provider=hold.provider, authorization_id=hold.authorization_id,
                              net=terms.difference_net, tax=terms.difference_tax)

    @activity.defn
    @raises_business_errors
    async def commit_exchange_tax(self, rma: ReturnInput, terms: ExchangeTerms) -> TaxQuote:
        """Report a dearer exchange's difference to the tax provider: a committed invoice under
        ``{rma}:exchange-tax`` with a line per variant whose price changed, to the original order's address and
        exemption. Create-or-adjust, so a retry after a lost answer lands on the same document."""
        code = exchange_tax_document(rma.rma_id)
        async with self.engine.connect() as conn:
            order = await fulfillment_store.snapshot(conn, rma.order_id, FulfillmentPolicy())
            lines = terms.lines or _lines_by_units(terms)
            details = await store.variant_tax_details(conn, sorted({line.sku for line in lines}))
        cart = PricedCart(cart_id=rma.order_id, currency=terms.currency, tax_exemption=order.tax_exemption,
                          subtotal=sum(line.net for line in lines), lines=[
                              _tax_line(line, *details.get(line.sku, (line.sku, None))) for line in lines])
        committed = await self.refunds.tax.commit(cart=cart, address=order.shipping_address, shipping_amount=0,
                                                  document_code=code)
        log.info("exchange tax committed", rma_id=rma.rma_id, document=code, tax=committed.total)
        return committed

    @activity.defn
    async def record_exchange_tax(self, rma_id: str, committed: TaxQuote) -> None:
        """The replacement order carries the difference's tax document (a step of its own: changing
        create_exchange_order's arguments would break its tasks in flight at a deploy)."""
        async with self.engine.begin() as conn:
            await store.record_exchange_tax(conn, rma_id, committed.provider, committed.document_code)

    @activity.defn
    async def void_exchange_tax(self, rma_id: str, document_code: str) -> bool:
        """Compensation: void the difference's tax document unless the replacement order exists after all (its
        creation committed but its answer was lost): its sale happened, so its document stands. Whether it
        voided."""
        async with self.engine.connect() as conn:
            if (await store.get(conn, rma_id)).replacement_order_id:
                log.warning("exchange tax kept: the replacement exists", rma_id=rma_id, document=document_code)
                return False
        await self.refunds.tax.void(document_code=document_code)
        return True

    @activity.defn
    @raises_business_errors
    async def refund_exchange_difference(self, rma: ReturnInput, terms: ExchangeTerms) -> RefundResult:
        """A cheaper variant: give the difference back through the refund path (never more than was paid for
        the exchanged units, and within what the order's payment captured)."""
        command = RefundCommand(refund_id=return_refund_id(rma.rma_id, ":exchange-difference"), order_id=rma.order_id,
                                request=RefundRequest(amount=terms.to_refund, reason=f"exchange {rma.rma_id}: "
                                                                                     "cheaper variant"),
                                actor="returns")
        result = await self.refunds.issue(command)
        async with self.engine.begin() as conn:
            await store.record_refund(conn, rma.rma_id, result.refund_id)
        return result


def _tax_line(line: ExchangeLine, title: str, tax_code: str | None) -> PricedLine:
    return PricedLine(sku=line.sku, title=title, quantity=line.quantity, unit_price=line.net // line.quantity,
                      line_subtotal=line.net, tax_code=tax_code)


def _lines_by_units(terms: ExchangeTerms) -> list[ExchangeLine]:
    """Terms priced by an older build carry no lines: spread the difference over the replacement's units."""
    skus = sorted(terms.replacement)
    shares = allocate(terms.difference_net, [terms.replacement[sku] for sku in skus])
    return [ExchangeLine(sku=sku, quantity=terms.replacement[sku], net=share)
            for sku, share in zip(skus, shares) if share]
