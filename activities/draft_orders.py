"""Mailing a draft order's invoice: the quote's lines and total, and a signed link that starts its checkout.

No record of the send is kept: the workflow id names the draft and the quote, so one invoice is mailed per
quote, and a retried send is the same message under the same Message-ID (models/notifications.py).
"""

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.errors import raises_business_errors
from adapters.ports import EmailSender
from db import draft_orders as store
from db import quotes as quote_store
from db import suppressions
from models.customer_tokens import StorefrontLinks
from models.draft_orders import DraftInvoice, InvoiceRequest, draft_invoice_email, invoice_url
from models.errors import DomainError

log = structlog.get_logger("orderflow.activities")


class DraftOrderActivities:
    def __init__(self, engine: AsyncEngine, sender: EmailSender, links: StorefrontLinks | None):
        self.engine = engine
        self.sender = sender
        self.links = links  # None: no storefront to link to, so no invoice can be mailed

    @activity.defn
    @raises_business_errors
    async def send_draft_invoice(self, request: InvoiceRequest) -> str:
        """sent | suppressed | superseded (the draft was re-quoted, completed or cancelled before the send)."""
        if self.links is None:
            raise DomainError("invoice links need STOREFRONT_URL", code="draft_invoices_not_configured")
        async with self.engine.connect() as conn:
            draft = await store.get(conn, request.draft_id)
            if draft.status != "invoiced" or draft.invoiced_quote_id != request.quote_id:
                return "superseded"
            if await suppressions.is_suppressed(conn, draft.email):
                log.info("draft invoice suppressed", draft_id=draft.id)
                return "suppressed"
            quote = await quote_store.get(conn, request.quote_id)
        message = draft_invoice_email(DraftInvoice(
            draft_id=draft.id, quote_id=quote.quote_id, email=draft.email,
            customer_name=draft.shipping_address.get("name"), currency=quote.currency, total=quote.total,
            lines=[(line.title, line.quantity, line.total) for line in quote.lines],
            pay_url=invoice_url(self.links.base_url, draft.id, self.links.tokens.cart_token(draft.cart_id))))
        message_id = await self.sender.send(message)
        log.info("draft invoice sent", draft_id=draft.id, quote_id=quote.quote_id, message_id=message_id)
        return "sent"
