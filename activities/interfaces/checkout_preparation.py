"""What the workflows may know of ``activities.checkout_preparation``: names and types, no implementation."""

from datetime import datetime

from temporalio import activity

from models.commerce import CheckoutInput, PreparedCheckout


class CheckoutPreparationActivities:
    @activity.defn
    async def prepare_checkout(self, checkout: CheckoutInput, now: datetime) -> PreparedCheckout:
        ...
