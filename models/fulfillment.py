"""Fulfillment value objects and the pure rules for capture amounts and order status."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from models.commerce import Address, Frozen, PaymentAuthorization, TaxExemption
from models.order_state import OrderStatus

TrackingStatus = Literal["pre_transit", "in_transit", "out_for_delivery", "delivered", "failure", "returned"]


class FulfillmentPolicy(Frozen):
    """Timings ops configure; loaded by an activity so workflows stay deterministic."""

    authorization_ttl_seconds: int = 7 * 24 * 3600
    on_authorization_expiry: Literal["reauthorize", "cancel"] = "reauthorize"
    pack_alert_seconds: int = 2 * 24 * 3600
    delivery_alert_seconds: int = 10 * 24 * 3600
    delivery_give_up_seconds: int = 45 * 24 * 3600
    carrier_retry_seconds: int = 15 * 60


class OrderLineSnapshot(Frozen):
    sku: str
    title: str
    quantity: int
    unit_price: int
    line_total: int
    tax: int
    weight_grams: int = 0
    tax_code: str | None = None


class OrderSnapshot(Frozen):
    order_id: str
    status: str
    email: str
    currency: str
    total: int
    shipping_total: int
    shipping_address: Address
    shipping_service: str
    shipping_rate_id: str | None
    lines: list[OrderLineSnapshot]
    tax_exemption: TaxExemption | None = None
    authorization: PaymentAuthorization
    payment_ref: str
    created_at: datetime
    policy: FulfillmentPolicy = Field(default_factory=FulfillmentPolicy)


class ShipmentItem(Frozen):
    sku: str
    quantity: int


class PlannedShipment(Frozen):
    shipment_id: str
    location_id: str
    items: list[ShipmentItem]


class FulfillmentInput(Frozen):
    order_id: str


class ShipmentInput(Frozen):
    order_id: str
    shipment_id: str
    policy: FulfillmentPolicy


class CancelRequest(Frozen):
    reason: str
    actor: str | None = None


class Reauthorization(Frozen):
    """A planned renewal: the new hold to create, and the expiring one it replaces (voided after the switch)."""

    order_id: str
    payment_ref: str  # the new hold's, derived from the order id and the renewal number
    amount: int
    currency: str
    payment_method: str
    old_payment_ref: str
    old_authorization: PaymentAuthorization


class CaptureInstruction(BaseModel):
    """What a parcel captures (or a cancel voids): the payment, its hold, the amount and the ledger key."""

    payment_ref: str
    authorization: PaymentAuthorization
    amount: int
    idempotency_key: str


class TrackingEvent(Frozen):
    event_id: str
    status: TrackingStatus
    occurred_at: datetime
    detail: str | None = None


class ShipmentProgress(Frozen):
    shipment_id: str
    status: str  # captured | shipped | delivered | failed | cancelled


def shipment_capture_amount(lines: list[OrderLineSnapshot], items: list[ShipmentItem], *, order_total: int,
                            captured_so_far: int, is_last: bool) -> int:
    """What to capture when one shipment leaves.

    Each shipment pays for its items and their tax, pro rata (rounded down); the last one
    captures whatever remains, shipping and rounding included, so the captures sum to the
    order total exactly.
    """
    if is_last:
        return order_total - captured_so_far
    by_sku = {line.sku: line for line in lines}
    amount = 0
    for item in items:
        line = by_sku[item.sku]
        amount += (line.line_total + line.tax) * item.quantity // line.quantity
    return amount


def status_after_shipment(shipped: int, total_shipments: int) -> OrderStatus:
    return OrderStatus.FULFILLED if shipped >= total_shipments else OrderStatus.PARTIALLY_FULFILLED


def line_deliveries(shipments: list[dict]) -> dict[str, tuple[int, datetime | None]]:
    """Per SKU: units delivered so far and when the last of them arrived.

    ``shipments`` are ``{"items": [{"sku", "quantity"}], "delivered_at": datetime | None}``.
    A line counts as delivered once its delivered units reach its quantity.
    """
    delivered: dict[str, tuple[int, datetime | None]] = {}
    for shipment in shipments:
        if shipment["delivered_at"] is None:
            continue
        for item in shipment["items"]:
            units, last = delivered.get(item["sku"], (0, None))
            at = shipment["delivered_at"]
            delivered[item["sku"]] = (units + item["quantity"], at if last is None or at > last else last)
    return delivered
