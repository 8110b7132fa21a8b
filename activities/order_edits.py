"""Activities of an order edit (the order workflow's ``edit`` update), one per saga step: plan (price, verify
the address, quote shipping and tax), hold the added stock, raise the payment, apply, refund the difference;
and the compensations (release the hold). No provider is called while a transaction is open."""

from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.errors import raises_business_errors
from activities.payments_service import PaymentService
from adapters.ports import ShippingCarrier, TaxCalculator
from db import fulfillment as fulfillment_store
from db import inventory
from db import order_edits as store
from db import payments as ledger
from models.commerce import Address, PricedCart, PricedLine
from models.errors import Conflict, DomainError, OutOfStock
from models.order_edits import (
    EditAuthorization, EditedLine, EditOutcome, EditPlan, OrderEditCommand, OrderFigures, check_parcels,
    edit_key, new_quantities, payment_adjustment, request_hash, requantified, unit_deltas,
)
from models.order_state import OrderStatus

log = structlog.get_logger("orderflow.order_edits")
# How long stock added by an edit stays held before the edit applies it (a sweep releases it after).
EDIT_HOLD_TTL = timedelta(days=1)


class OrderEditActivities:
    def __init__(self, engine: AsyncEngine, payments: PaymentService, carrier: ShippingCarrier, tax: TaxCalculator):
        self.engine = engine
        self.payments = payments
        self.carrier = carrier
        self.tax = tax

    @activity.defn
    @raises_business_errors
    async def plan_order_edit(self, command: OrderEditCommand) -> EditPlan:
        """Check the edit against the order and price it; writes nothing."""
        async with self.engine.connect() as conn:
            order = await fulfillment_store.order_row(conn, command.order_id)
            if order.status == OrderStatus.CANCELLED:
                raise Conflict(f"order {order.id} is cancelled", code="order_cancelled")
            lines = await store.lines_of(conn, order.id)
            current = {line.sku: line.quantity for line in lines}
            wanted = new_quantities(current, command.request)
            new_skus = sorted(set(wanted) - set(current))
            catalog = await store.sellable_lines(conn, new_skus, order.currency)
            parcels = await store.parcels_of(conn, order.id)
            captured = (await ledger.totals(conn, order.payment_ref)).captured
        if unknown := [sku for sku in new_skus if sku not in catalog]:
            raise DomainError(f"unknown or unsellable SKU: {', '.join(unknown)}", code="unknown_sku",
                              details={"skus": unknown})
        if not wanted:
            raise DomainError("an edit cannot remove every line; cancel the order instead", code="invalid_edit")
        added, removed = unit_deltas(current, wanted)
        before_address = Address(**order.shipping_address)
        address = before_address
        if command.request.shipping_address is not None:  # the carrier's corrected form, or address_invalid
            address = await self.carrier.verify_address(address=command.request.shipping_address)
        check_parcels(parcels, set(added) | set(removed), address != before_address)
        edited = [requantified(line, wanted[line.sku]) for line in lines if line.sku in wanted]
        edited += [catalog[sku].model_copy(update={"quantity": wanted[sku]}) for sku in new_skus]
        before = OrderFigures(lines=lines, subtotal=order.subtotal, discount_total=order.discount_total,
                              tax_total=order.tax_total, shipping_total=order.shipping_total, total=order.total,
                              shipping_address=before_address)
        order_discount = max(0, order.discount_total - sum(line.discount for line in lines))
        after, shipping_method = await self._quote(order, edited, address, command.edit_id, order_discount)
        return EditPlan(
            order_id=order.id, edit_id=command.edit_id, actor=command.actor, reason=command.request.reason,
            currency=order.currency, payment_ref=order.payment_ref,
            authorization=fulfillment_store.current_authorization(order), before=before, after=after,
            shipping_method=shipping_method, added_units=added, removed_units=removed, captured=captured,
            payment=payment_adjustment(order.total, after.total, captured),
            request_hash=request_hash(command.request))

    async def _quote(self, order, lines: list[EditedLine], address: Address, edit_id: str, order_discount: int):
        """The edited order's figures: shipping to ``address`` (verified) at the order's service
        (free shipping stays free), tax for the whole edited order. ``order_discount``: the order-level part of
        its discount (beyond its lines'), kept as it was but never above the edited subtotal."""
        cart = PricedCart(cart_id=order.id, currency=order.currency, tax_exemption=order.tax_exemption,
                          lines=[PricedLine(sku=line.sku, title=line.title, quantity=line.quantity,
                                            unit_price=line.unit_price, line_subtotal=line.unit_price * line.quantity,
                                            discount=line.discount, weight_grams=line.weight_grams,
                                            tax_code=line.tax_code) for line in lines],
                          subtotal=sum(line.unit_price * line.quantity for line in lines),
                          discount_total=sum(line.discount for line in lines))
        order_discount = min(order_discount, cart.subtotal - cart.discount_total)
        method = dict(order.shipping_method)
        if order.shipping_total:
            rates = [r for r in await self.carrier.rates(cart=cart, address=address) if r.service == method["service"]]
            if not rates:
                raise DomainError(f"no {method['service']!r} shipping to the new address", code="shipping_unavailable")
            rate = min(rates, key=lambda r: (r.amount, r.estimated_days))
            method = rate.model_dump(mode="json")
        shipping = method["amount"] if order.shipping_total else 0
        tax = await self.tax.quote(cart=cart, address=address, shipping_amount=shipping,
                                   document_code=f"{order.id}:edit:{edit_id}")
        by_sku = {line.sku: line.amount for line in tax.lines}
        taxed = [line.model_copy(update={"tax": by_sku.get(line.sku, 0)}) for line in lines]
        return _figures(taxed, address, shipping=shipping, tax_total=tax.total, order_discount=order_discount), method

    @activity.defn
    @raises_business_errors
    async def reserve_order_edit(self, plan: EditPlan) -> int:
        """Hold the units the edit adds (never oversold: the stock rows are locked); units held."""
        if not plan.added_units:
            return 0
        key = store.edit_hold_key(plan.order_id, plan.edit_id)
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            if await store.applied_edit(conn, plan.order_id, plan.edit_id) is not None:
                return 0  # a retry after the edit applied: its hold became parcels
            try:
                held = await inventory.reserve(conn, key, plan.added_units, now=now, expires_at=now + EDIT_HOLD_TTL)
            except OutOfStock as short:
                raise Conflict(str(short), code="insufficient_stock", details=short.details) from short
        return sum(item.quantity for item in held.items)

    @activity.defn
    async def release_order_edit(self, plan: EditPlan) -> int:
        """Compensation: give back what the edit held (nothing once applied: the hold became parcels)."""
        async with self.engine.begin() as conn:
            return await inventory.release(conn, store.edit_hold_key(plan.order_id, plan.edit_id))

    @activity.defn
    @raises_business_errors
    async def raise_authorization(self, plan: EditPlan) -> EditAuthorization:
        """Cover a higher total: raise the hold in place where the provider allows it, else authorize the new
        total anew (it replaces the old hold once the edit applies); refused: payment_increase_not_possible."""
        held = plan.authorization
        new_amount = held.amount + plan.payment.amount
        try:
            await self.payments.increment(plan.payment_ref, held, new_amount, edit_key(plan, "increment"))
            return EditAuthorization(mode="incremented", payment_ref=plan.payment_ref,
                                     authorization_id=held.authorization_id, amount=new_amount,
                                     multicapture=held.multicapture)
        except DomainError as refused:
            log.info("incremental authorization refused; authorizing anew", order_id=plan.order_id, code=refused.code)
        return await self._authorize_anew(plan)

    async def _authorize_anew(self, plan: EditPlan) -> EditAuthorization:
        async with self.engine.connect() as conn:
            order = await fulfillment_store.order_row(conn, plan.order_id)
        payment_ref = f"{plan.order_id}:edit:{plan.edit_id}"
        try:
            # Support edits the order with the customer away: charged through the customer the card was saved for.
            fresh = await self.payments.authorize(payment_ref, plan.after.total, plan.currency,
                                                  order.payment_method or "", edit_key(plan, "authorize"),
                                                  customer_ref=order.payment_customer_ref)
        except DomainError as refused:
            raise Conflict("the card did not accept the higher total", code="payment_increase_not_possible",
                           details={"provider_code": refused.code}) from refused
        authorization = EditAuthorization(mode="replaced", payment_ref=payment_ref,
                                          authorization_id=fresh.authorization_id, amount=fresh.amount,
                                          multicapture=fresh.multicapture)
        if fresh.status != "authorized":  # 3-D Secure: nobody is at the keyboard to answer it
            await self.payments.void(payment_ref, fresh, edit_key(plan, "void-unused"))
            raise Conflict("the card asks the customer to authenticate the higher total",
                           code="payment_increase_not_possible", details={"provider_code": "authentication_required"})
        return authorization

    @activity.defn
    @raises_business_errors
    async def apply_order_edit(self, plan: EditPlan, authorization: EditAuthorization | None) -> EditOutcome:
        async with self.engine.begin() as conn:
            outcome = await store.apply(conn, plan, authorization)
        log.info("order edited", order_id=plan.order_id, edit_id=plan.edit_id, total=plan.after.total,
                 payment=plan.payment.action)
        return outcome

    @activity.defn
    @raises_business_errors
    async def refund_order_edit(self, plan: EditPlan) -> str:
        """The total fell below what was captured: give the difference back (bounded by the ledger)."""
        return await self.payments.refund(plan.payment_ref, plan.authorization, plan.payment.amount,
                                          edit_key(plan, "refund"))


def _figures(lines: list[EditedLine], address: Address, *, shipping: int, tax_total: int,
             order_discount: int) -> OrderFigures:
    subtotal = sum(line.unit_price * line.quantity for line in lines)
    discount = sum(line.discount for line in lines) + order_discount
    return OrderFigures(lines=lines, subtotal=subtotal, discount_total=discount, tax_total=tax_total,
                        shipping_total=shipping, total=subtotal - discount + tax_total + shipping,
                        shipping_address=address)
