"""Activities of the returns (RMA) workflow."""

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.errors import raises_business_errors
from activities.support import RefundService
from adapters.ports import ShippingCarrier
from db import fulfillment as fulfillment_store
from db import inventory
from db import orders as order_store
from db import returns as store
from models.commerce import Label, PricedCart, PricedLine, ShipmentRequest
from models.errors import IllegalTransition
from models.fulfillment import FulfillmentPolicy
from models.ids import public_id
from models.order_state import OrderStatus
from models.refunds import RefundCommand, RefundLine, RefundRequest, RefundResult, restocking_fee
from models.returns import FEE_EXEMPT_REASONS, Inspection, ReturnInput

log = structlog.get_logger("orderflow.returns")


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
        command = RefundCommand(refund_id=public_id("refund", uuid.uuid5(uuid.NAMESPACE_URL, f"orderflow:return:{rma.rma_id}")), order_id=rma.order_id,
                                request=RefundRequest(lines=lines, fee=fee, reason=f"return {rma.rma_id}"),
                                actor="returns")
        result = await self.refunds.issue(command)
        async with self.engine.begin() as conn:
            await store.set_status(conn, rma.rma_id, "refunded", refund_id=result.refund_id)
        return result

    @activity.defn
    @raises_business_errors
    async def create_exchange_order(self, rma: ReturnInput, accepted: dict[str, int], order_id: str) -> str:
        async with self.engine.begin() as conn:
            row = await store.get(conn, rma.rma_id, lock=True)
            if row.replacement_order_id:
                return row.replacement_order_id
            original = await fulfillment_store.order_row(conn, rma.order_id)
            await store.create_exchange_order(conn, order_id=order_id, rma_id=rma.rma_id, original=original,
                                              units=accepted, now=datetime.now(UTC))
            await store.set_status(conn, rma.rma_id, "exchanged", replacement_order_id=order_id)
        log.info("exchange order created", rma_id=rma.rma_id, order_id=order_id)
        return order_id
