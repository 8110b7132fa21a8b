"""Abandoned-cart reminders, sent at most once per (cart, reminder) as far as our records go.

Same contract as order notifications (activities/notifications.py): skipped when already recorded,
recorded after the sender succeeded, and a resend carries the same Message-ID. Addresses on the
suppression list (db/suppressions.py) get none.
"""

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.errors import raises_business_errors
from adapters.ports import EmailSender
from db import cart_recovery as store
from db import suppressions
from models.cart_recovery import cart_reminder_email
from models.customer_tokens import StorefrontLinks
from models.unsubscribe import UnsubscribeLinks

log = structlog.get_logger("orderflow.activities")


class CartRecoveryActivities:
    def __init__(self, engine: AsyncEngine, sender: EmailSender, links: UnsubscribeLinks,
                 storefront: StorefrontLinks | None = None):
        self.engine = engine
        self.sender = sender
        self.links = links  # signs the unsubscribe link every reminder carries
        self.storefront = storefront  # signs the link back to the cart

    @activity.defn
    @raises_business_errors
    async def send_cart_reminder(self, cart_id: str, reminder: int, last: bool) -> str:
        """sent | already_sent | checked_out (the cart is checking or checked out: stop) | nothing_to_send |
        suppressed (the address unsubscribed: nothing sent; the workflow moves on like any other non-send)."""
        async with self.engine.connect() as conn:
            status, cart = await store.cart_state(conn, cart_id)
            if status != "open":
                return "checked_out"
            if await store.already_sent(conn, cart_id, reminder):
                return "already_sent"
            if cart is None:  # emptied, or its email removed: nothing to remind of this time
                return "nothing_to_send"
            if await suppressions.is_suppressed(conn, cart.email):
                log.info("cart reminder suppressed", cart_id=cart_id, reminder=reminder)
                return "suppressed"
        cart_url = self.storefront.cart_url(cart_id) if self.storefront else None
        message_id = await self.sender.send(cart_reminder_email(cart, reminder, last=last, links=self.links,
                                                                cart_url=cart_url))
        async with self.engine.begin() as conn:
            await store.record_sent(conn, cart_id, reminder, cart.email, message_id)
        log.info("cart reminder sent", cart_id=cart_id, reminder=reminder, sender=self.sender.name)
        return "sent"
