"""What the workflows may know of ``activities.draft_orders``: names and types, no implementation."""

from temporalio import activity

from models.draft_orders import InvoiceRequest


class DraftOrderActivities:
    @activity.defn
    async def send_draft_invoice(self, request: InvoiceRequest) -> str:
        ...
