"""What the workflows may know of ``activities.fulfillment``: names and types, no implementation."""

from datetime import datetime

from temporalio import activity

from models.commerce import Label, PaymentAuthorization
from models.fulfillment import CaptureInstruction, OrderSnapshot, PlannedShipment, Reauthorization, TrackingEvent


class FulfillmentActivities:
    @activity.defn
    async def load_order(self, order_id: str) -> OrderSnapshot:
        ...

    @activity.defn
    async def allocate_order(self, order_id: str) -> list[PlannedShipment]:
        ...

    @activity.defn
    async def plan_reauthorization(self, order_id: str, attempt: int) -> Reauthorization | None:
        ...

    @activity.defn
    async def switch_authorization(self, renewal: Reauthorization, fresh: PaymentAuthorization) -> bool:
        ...

    @activity.defn
    async def record_order_alert(self, order_id: str, alert: str) -> None:
        ...

    @activity.defn
    async def renew_authorization(self, order_id: str, attempt: int) -> str:
        ...

    @activity.defn
    async def cancel_order(self, order_id: str, reason: str, event_id: str) -> str:
        ...

    @activity.defn
    async def current_authorization(self, order_id: str) -> CaptureInstruction:
        ...

    @activity.defn
    async def cancelled_payment_ref(self, order_id: str) -> str | None:
        ...


class ShipmentActivities:
    @activity.defn
    async def buy_label(self, shipment_id: str) -> Label:
        ...

    @activity.defn
    async def refund_label(self, shipment_id: str) -> None:
        ...

    @activity.defn
    async def prepare_capture(self, shipment_id: str) -> CaptureInstruction:
        ...

    @activity.defn
    async def release_refused_capture(self, shipment_id: str) -> int:
        ...

    @activity.defn
    async def commit_tax(self, shipment_id: str) -> int:
        ...

    @activity.defn
    async def mark_packed(self, shipment_id: str) -> None:
        ...

    @activity.defn
    async def ship(self, shipment_id: str, shipped_at: datetime) -> str:
        ...

    @activity.defn
    async def record_tracking(self, shipment_id: str, event: TrackingEvent) -> bool:
        ...

    @activity.defn
    async def set_alert(self, shipment_id: str, alert: str | None) -> None:
        ...
