"""What the workflows may know of ``activities.notifications``: names and types, no implementation."""

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
