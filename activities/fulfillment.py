"""Activities of the fulfillment and shipment workflows, grouped by what they call."""

from collections.abc import Mapping
from datetime import datetime

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.errors import raises_business_errors
from activities.payments_service import PaymentService
from adapters.ports import ShippingCarrier, TaxCalculator
from db import fulfillment as store
from db import inventory
from db import orders as order_store
from db import payments as ledger
from db.tables import orders
from models.commerce import Label, PaymentAuthorization, PricedCart, PricedLine, ShipmentRequest
from models.errors import Conflict, DomainError
from models.fulfillment import (
    CaptureInstruction, FulfillmentPolicy, OrderSnapshot, PlannedShipment, Reauthorization, TrackingEvent,
    shipment_capture_amount,
)
from models.order_state import OrderStatus
from models.payments import parcel_capture, reauthorization_ref

log = structlog.get_logger("orderflow.fulfillment")


class FulfillmentActivities:
    """Order-level steps: load, route and allocate, re-authorize, cancel."""

    def __init__(self, engine: AsyncEngine, payments: PaymentService, policy: FulfillmentPolicy,
                 distances: Mapping[str, Mapping[str, int]]):
        self.engine = engine
        self.payments = payments
        self.policy = policy
        self.distances = distances

    @activity.defn
    @raises_business_errors
    async def load_order(self, order_id: str) -> OrderSnapshot:
        async with self.engine.connect() as conn:
            return await store.snapshot(conn, order_id, self.policy)

    @activity.defn
    @raises_business_errors
    async def allocate_order(self, order_id: str) -> list[PlannedShipment]:
        async with self.engine.begin() as conn:
            plan = await store.allocate(conn, order_id, self.distances)
        log.info("order allocated", order_id=order_id, shipments=len(plan))
        return plan

    @activity.defn
    @raises_business_errors
    async def plan_reauthorization(self, order_id: str, attempt: int) -> Reauthorization | None:
        """The renewal to make, or None once a capture has begun or the order was paid up front."""
        return await self._plan_reauthorization(order_id, attempt)

    async def _plan_reauthorization(self, order_id: str, attempt: int) -> Reauthorization | None:
        async with self.engine.connect() as conn:
            order = await store.order_row(conn, order_id)
            if await store.any_capture_started(conn, order_id):
                return None
            if not await ledger.uncaptured(conn, order.payment_ref, order.total):
                return None  # paid up front (a subscription renewal's off-session charge)
        return Reauthorization(
            order_id=order_id, payment_ref=reauthorization_ref(order_id, attempt), amount=order.authorized_amount,
            currency=order.currency, payment_method=order.payment_method or "", old_payment_ref=order.payment_ref,
            old_authorization=store.current_authorization(order))

    @activity.defn
    @raises_business_errors
    async def switch_authorization(self, renewal: Reauthorization, fresh: PaymentAuthorization) -> bool:
        """Point the order at the new hold, unless a capture or a cancel came first. Idempotent."""
        return await self._switch_authorization(renewal, fresh)

    async def _switch_authorization(self, renewal: Reauthorization, fresh: PaymentAuthorization) -> bool:
        async with self.engine.begin() as conn:
            order = await store.order_row(conn, renewal.order_id, lock=True)
            if order.payment_ref == renewal.payment_ref:
                return True  # a retry after the switch committed
            if (order.payment_ref != renewal.old_payment_ref or order.status == OrderStatus.CANCELLED
                    or await store.any_capture_started(conn, renewal.order_id)):
                return False
            await conn.execute(update(orders).where(orders.c.id == renewal.order_id).values(
                payment_ref=renewal.payment_ref, authorization_id=fresh.authorization_id,
                multicapture=fresh.multicapture))
            await order_store.append_event(
                conn, renewal.order_id, f"{renewal.payment_ref}:authorized", "payment.reauthorized",
                data={"authorization_id": fresh.authorization_id,
                      "replaced": {"payment_ref": renewal.old_payment_ref,
                                   "authorization_id": renewal.old_authorization.authorization_id}})
        return True

    @activity.defn
    async def record_order_alert(self, order_id: str, alert: str) -> None:
        """Put what ops must finish by hand on the order's event log (GET /orders/{id} shows it)."""
        async with self.engine.begin() as conn:
            await order_store.append_event(conn, order_id, f"{order_id}:alert:{alert}", "order.alert",
                                           data={"alert": alert})
        log.warning("order needs attention", order_id=order_id, alert=alert)

    @activity.defn
    @raises_business_errors
    async def renew_authorization(self, order_id: str, attempt: int) -> str:
        """Replace an authorization about to expire; 'not_needed' once any capture has begun.

        Kept only for fulfillments started before the renewal ran in steps (plan_reauthorization,
        authorize, switch_authorization, void), and now made of the same steps: the provider is never
        called while the order row is locked. A retry after its switch voids the hold the switch
        replaced (recorded on the event), never the order's current one."""
        payment_ref = reauthorization_ref(order_id, attempt)
        async with self.engine.connect() as conn:
            switched = (await store.order_row(conn, order_id)).payment_ref == payment_ref
            replaced = switched and await store.replaced_authorization(conn, order_id, f"{payment_ref}:authorized")
        if switched:  # a retry: an earlier attempt switched, then its void failed. Void what it replaced
            if replaced:  # unrecorded (switched before the event kept it): the old hold lapses on its own
                old_ref, old = replaced
                await self.payments.void(old_ref, old, f"{old_ref}:void-expired")
            return "renewed"
        renewal = await self._plan_reauthorization(order_id, attempt)
        if renewal is None:
            return "not_needed"
        try:
            fresh = await self.payments.authorize_order_card(order_id, renewal.payment_ref, renewal.amount,
                                                             renewal.currency, renewal.payment_method,
                                                             f"{payment_ref}:authorize")
        except DomainError as refused:
            log.warning("re-authorization refused", order_id=order_id, code=refused.code)
            return "declined"
        if not await self._switch_authorization(renewal, fresh):
            # A capture (or a cancel) began while the provider was asked: it uses the old hold.
            await self.payments.void(payment_ref, fresh, f"{payment_ref}:void-unused")
            return "not_needed"
        await self.payments.void(renewal.old_payment_ref, renewal.old_authorization,
                                 f"{renewal.old_payment_ref}:void-expired")
        return "renewed"

    @activity.defn
    @raises_business_errors
    async def cancel_order(self, order_id: str, reason: str, event_id: str) -> str:
        """Release held stock and mark the order cancelled; payment is voided by its own activity."""
        async with self.engine.begin() as conn:
            # Order row first: the capture path locks it too, so exactly one of them wins.
            order = await store.order_row(conn, order_id, lock=True)
            if await store.any_capture_started(conn, order_id):
                raise Conflict("a parcel of this order is already being shipped; refund instead",
                               code="already_shipped")
            if (await ledger.totals(conn, order.payment_ref)).captured:  # paid up front (subscription renewal)
                raise Conflict("this order's payment is already captured; refund instead", code="already_captured")
            units = await inventory.release_order(conn, order_id)
            await store.cancel_unshipped(conn, order_id)
            await order_store.append_event(conn, order_id, event_id, "order.cancelled",
                                           to_status=OrderStatus.CANCELLED,
                                           data={"reason": reason, "units_released": units})
            order = await store.order_row(conn, order_id)
        return order.payment_ref

    @activity.defn
    @raises_business_errors
    async def cancelled_payment_ref(self, order_id: str) -> str | None:
        """After cancel_order went unanswered: the order's payment ref if it is cancelled, else None."""
        async with self.engine.connect() as conn:
            order = await store.order_row(conn, order_id)
        return order.payment_ref if order.status == OrderStatus.CANCELLED else None

    @activity.defn
    async def current_authorization(self, order_id: str) -> CaptureInstruction:
        async with self.engine.connect() as conn:
            order = await store.order_row(conn, order_id)
        return CaptureInstruction(
            payment_ref=order.payment_ref, amount=order.authorized_amount,
            idempotency_key=f"{order.payment_ref}:void",
            authorization=PaymentAuthorization(provider=order.payment_provider,
                                               authorization_id=order.authorization_id,
                                               amount=order.authorized_amount, currency=order.currency),
        )


class ShipmentActivities:
    """Shipment-level steps: label, capture amount, tax commit, ship, tracking."""

    def __init__(self, engine: AsyncEngine, carrier: ShippingCarrier, tax: TaxCalculator):
        self.engine = engine
        self.carrier = carrier
        self.tax = tax

    async def _request(self, shipment_id: str) -> tuple:
        async with self.engine.connect() as conn:
            shipment = await store.shipment_row(conn, shipment_id)
            order = await store.snapshot(conn, shipment.order_id, FulfillmentPolicy())
            items = {i.sku: i.quantity for plan in await store.planned_shipments(conn, order.order_id)
                     if plan.shipment_id == shipment_id for i in plan.items}
        return shipment, order, _shipment_cart(order, items)

    @activity.defn
    @raises_business_errors
    async def buy_label(self, shipment_id: str) -> Label:
        shipment, order, cart = await self._request(shipment_id)
        if shipment.label_id:
            return Label(provider=self.carrier.name, label_id=shipment.label_id, tracking_code=shipment.tracking_code,
                         carrier=shipment.carrier, service=shipment.service, amount=shipment.label_cost or 0,
                         currency=order.currency, label_url=shipment.label_url)
        label = await self.carrier.buy_label(
            shipment=ShipmentRequest(cart=cart, address=order.shipping_address),
            rate_id=order.shipping_rate_id or order.shipping_service, idempotency_key=f"{shipment_id}:label",
        )
        async with self.engine.begin() as conn:
            await store.set_status(conn, shipment_id, "label_purchased", label_id=label.label_id,
                                   tracking_code=label.tracking_code, carrier=label.carrier, service=label.service,
                                   label_url=label.label_url, label_cost=label.amount)
        return label

    @activity.defn
    async def refund_label(self, shipment_id: str) -> None:
        async with self.engine.connect() as conn:
            shipment = await store.shipment_row(conn, shipment_id)
        if shipment.label_id and shipment.shipped_at is None:
            await self.carrier.refund_label(label_id=shipment.label_id)
            async with self.engine.begin() as conn:
                await store.set_status(conn, shipment_id, "packed", label_id=None, tracking_code=None)

    @activity.defn
    @raises_business_errors
    async def prepare_capture(self, shipment_id: str) -> CaptureInstruction:
        async with self.engine.begin() as conn:
            shipment = await store.shipment_row(conn, shipment_id)
            # The order is read under its lock: an order edit commits its new lines and total under the same
            # lock, so this parcel's share is computed from the order its capture will be fixed against.
            await store.order_row(conn, shipment.order_id, lock=True)
            order = await store.snapshot(conn, shipment.order_id, FulfillmentPolicy())
            items = next(p.items for p in await store.planned_shipments(conn, order.order_id)
                         if p.shipment_id == shipment_id)
            amount, authorization, payment_ref = await store.reserve_capture(
                conn, shipment_id,
                lambda captured, is_last: shipment_capture_amount(order.lines, items, order_total=order.total,
                                                                  captured_so_far=captured, is_last=is_last))
        # The shipment keeps its share (tax documents, refunds); what its capture takes depends on whether the
        # authorization allows several captures. An order paid up front by a subscription's off-session charge
        # has nothing left to capture, so the workflow skips it.
        async with self.engine.connect() as conn:
            uncaptured = await ledger.uncaptured(conn, payment_ref, order.total)
        amount = parcel_capture(amount, uncaptured, multicapture=authorization.multicapture)
        return CaptureInstruction(payment_ref=payment_ref, authorization=authorization, amount=amount,
                                  idempotency_key=f"{shipment_id}:capture")

    @activity.defn
    @raises_business_errors
    async def release_refused_capture(self, shipment_id: str) -> int:
        async with self.engine.begin() as conn:
            units = await store.release_refused_capture(conn, shipment_id)
        log.warning("capture refused: parcel released", shipment_id=shipment_id, units=units)
        return units

    @activity.defn
    @raises_business_errors
    async def commit_tax(self, shipment_id: str) -> int:
        shipment, order, cart = await self._request(shipment_id)
        async with self.engine.connect() as conn:
            first = (await store.planned_shipments(conn, order.order_id))[0].shipment_id == shipment_id
        committed = await self.tax.commit(cart=cart, address=order.shipping_address,
                                          shipping_amount=order.shipping_total if first else 0,
                                          document_code=f"{order.order_id}:{shipment_id}")
        return committed.total

    @activity.defn
    @raises_business_errors
    async def mark_packed(self, shipment_id: str) -> None:
        async with self.engine.begin() as conn:
            shipment = await store.shipment_row(conn, shipment_id, lock=True)
            if shipment.status == "pending_pack":
                await store.set_status(conn, shipment_id, "packed")

    @activity.defn
    @raises_business_errors
    async def ship(self, shipment_id: str, shipped_at: datetime) -> str:
        async with self.engine.begin() as conn:
            status = await store.ship(conn, shipment_id, shipped_at)
        log.info("shipment shipped", shipment_id=shipment_id, order_status=status)
        return status

    @activity.defn
    async def record_tracking(self, shipment_id: str, event: TrackingEvent) -> bool:
        async with self.engine.begin() as conn:
            return await store.record_tracking(conn, shipment_id, event)

    @activity.defn
    async def set_alert(self, shipment_id: str, alert: str | None) -> None:
        async with self.engine.begin() as conn:
            shipment = await store.shipment_row(conn, shipment_id, lock=True)
            await store.set_status(conn, shipment_id, shipment.status, alert=alert)
        if alert:
            log.warning("shipment needs attention", shipment_id=shipment_id, alert=alert)


def _shipment_cart(order: OrderSnapshot, items: dict[str, int]) -> PricedCart:
    """The part of the order in one parcel, priced pro rata from the order lines."""
    lines = []
    for line in order.lines:
        quantity = items.get(line.sku, 0)
        if quantity:
            subtotal = line.line_total * quantity // line.quantity
            lines.append(PricedLine(sku=line.sku, title=line.title, quantity=quantity, unit_price=line.unit_price,
                                    line_subtotal=subtotal, weight_grams=line.weight_grams, tax_code=line.tax_code))
    return PricedCart(cart_id=order.order_id, currency=order.currency, lines=lines,
                      subtotal=sum(line.line_subtotal for line in lines), tax_exemption=order.tax_exemption)
