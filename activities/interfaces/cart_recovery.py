"""What the workflows may know of ``activities.cart_recovery``: names and types, no implementation."""

from temporalio import activity


class CartRecoveryActivities:
    @activity.defn
    async def send_cart_reminder(self, cart_id: str, reminder: int, last: bool) -> str:
        ...
