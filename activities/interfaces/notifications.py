"""What the workflows may know of ``activities.notifications``: names and types, no implementation."""

from datetime import date

from temporalio import activity


class NotificationActivities:
    @activity.defn
    async def send_order_confirmation(self, order_id: str) -> bool:
        ...

    @activity.defn
    async def send_shipped(self, order_id: str, shipment_id: str) -> bool:
        ...

    @activity.defn
    async def send_delivered(self, order_id: str, shipment_id: str) -> bool:
        ...

    @activity.defn
    async def send_order_cancelled(self, order_id: str) -> str:
        ...

    @activity.defn
    async def send_order_edited(self, order_id: str, edit_id: str) -> str:
        ...

    @activity.defn
    async def send_refund_issued(self, order_id: str, refund_id: str) -> str:
        ...

    @activity.defn
    async def send_return_approved(self, rma_id: str) -> str:
        ...

    @activity.defn
    async def send_return_refunded(self, rma_id: str) -> str:
        ...

    @activity.defn
    async def send_exchange_payment_failed(self, rma_id: str) -> str:
        ...

    @activity.defn
    async def send_renewal_upcoming(self, subscription_id: str, cycle: int, renewal_date: date) -> str:
        ...
