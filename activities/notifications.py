"""Customer emails, sent at most once per (order, kind) as far as our records go.

A send is skipped when ``notifications`` already holds ``(order_id, kind)``, and recorded only
after the sender succeeded. A crash between the two (or two attempts racing) can therefore mail
the customer twice, but always the same message under the same Message-ID, which mail clients
and our outbox recognise as one. Recording first instead would risk never sending at all.

What happens after the order (cancelled, refunded, return approved and refunded) skips addresses on the
suppression list (db/suppressions.py), like cart reminders; the confirmation and parcel emails, which a
buyer needs to receive what they paid for, do not. Links to the order carry the guest order token.
"""

from datetime import date

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.errors import raises_business_errors
from adapters.ports import EmailSender
from db import notifications as store
from db import order_edits as edit_store
from db import subscriptions as subscription_store
from db import suppressions
from models.customer_emails import (
    CANCELLED, RenewalNotice, order_cancelled_email, renewal_upcoming_email, refund_issued_email, refund_kind, return_approved_email, return_approved_kind,
    return_refunded_email, return_refunded_kind, exchange_payment_failed_email, exchange_payment_failed_kind,
)
from models.customer_emails import order_edited_email, order_edited_kind
from models.customer_tokens import StorefrontLinks
from models.errors import Conflict
from models.notifications import (
    CONFIRMATION, EmailMessage, ShipmentItem, delivered_email, delivered_kind, order_confirmation_email,
    shipped_email, shipped_kind,
)
from models.subscriptions import SubscriptionEvent

log = structlog.get_logger("orderflow.activities")


class NotificationActivities:
    def __init__(self, engine: AsyncEngine, sender: EmailSender, links: StorefrontLinks | None = None):
        self.engine = engine
        self.sender = sender
        self.links = links  # None: emails without a link to the order (no storefront to point at)

    def _order_url(self, order_id: str) -> str | None:
        return self.links.order_url(order_id) if self.links else None

    @activity.defn
    @raises_business_errors
    async def send_order_confirmation(self, order_id: str) -> bool:
        """Returns whether an email went out (False: it had been sent before)."""
        async with self.engine.connect() as conn:
            if await store.already_sent(conn, order_id, CONFIRMATION):
                return False
            message = order_confirmation_email(await store.order_confirmation(conn, order_id),
                                               order_url=self._order_url(order_id))
        return await self._send(order_id, CONFIRMATION, message)

    @activity.defn
    @raises_business_errors
    async def send_shipped(self, order_id: str, shipment_id: str) -> bool:
        kind = shipped_kind(shipment_id)
        async with self.engine.connect() as conn:
            if await store.already_sent(conn, order_id, kind):
                return False
            notice = await store.shipment_notice(conn, order_id, shipment_id)
        if notice.tracking_code is None:  # called before the label was bought: a workflow bug, not a blip
            raise Conflict(f"shipment {shipment_id} has no tracking code yet", code="shipment_not_shipped")
        return await self._send(order_id, kind, shipped_email(notice))

    @activity.defn
    @raises_business_errors
    async def send_delivered(self, order_id: str, shipment_id: str) -> bool:
        kind = delivered_kind(shipment_id)
        async with self.engine.connect() as conn:
            if await store.already_sent(conn, order_id, kind):
                return False
            message = delivered_email(await store.shipment_notice(conn, order_id, shipment_id))
        return await self._send(order_id, kind, message)

    @activity.defn
    @raises_business_errors
    async def send_order_cancelled(self, order_id: str) -> str:
        """sent | already_sent | suppressed (as for every email below)."""
        async with self.engine.connect() as conn:
            if skipped := await self._skip(conn, order_id, CANCELLED):
                return skipped
            message = order_cancelled_email(await store.order_notice(conn, order_id), self._order_url(order_id))
        return await self._send_once(order_id, CANCELLED, message)

    @activity.defn
    @raises_business_errors
    async def send_order_edited(self, order_id: str, edit_id: str) -> str:
        """Like the confirmation, not skipped for suppressed addresses: it says what the customer will receive."""
        kind = order_edited_kind(edit_id)
        async with self.engine.connect() as conn:
            if await store.already_sent(conn, order_id, kind):
                return "already_sent"
            message = order_edited_email(await edit_store.edit_notice(conn, order_id, edit_id),
                                         self._order_url(order_id))
        return await self._send_once(order_id, kind, message)

    @activity.defn
    @raises_business_errors
    async def send_refund_issued(self, order_id: str, refund_id: str) -> str:
        kind = refund_kind(refund_id)
        async with self.engine.connect() as conn:
            if skipped := await self._skip(conn, order_id, kind):
                return skipped
            message = refund_issued_email(await store.refund_notice(conn, order_id, refund_id),
                                          self._order_url(order_id))
        return await self._send_once(order_id, kind, message)

    @activity.defn
    @raises_business_errors
    async def send_return_approved(self, rma_id: str) -> str:
        """With the return label's link (bought before this is sent)."""
        return await self._about_return(rma_id, return_approved_kind(rma_id), return_approved_email)

    @activity.defn
    @raises_business_errors
    async def send_return_refunded(self, rma_id: str) -> str:
        return await self._about_return(rma_id, return_refunded_kind(rma_id), return_refunded_email, refunded=True)

    @activity.defn
    @raises_business_errors
    async def send_exchange_payment_failed(self, rma_id: str) -> str:
        """The card refused a dearer exchange's difference: the replacement does not ship."""
        return await self._about_return(rma_id, exchange_payment_failed_kind(rma_id), exchange_payment_failed_email)

    async def _about_return(self, rma_id: str, kind: str, template, *, refunded: bool = False) -> str:
        async with self.engine.connect() as conn:
            notice = await store.return_notice(conn, rma_id)
            if skipped := await self._skip(conn, notice.order_id, kind):
                return skipped
        if refunded and notice.refund_amount is None:  # called before the refund succeeded: a workflow bug
            raise Conflict(f"return {rma_id} has no succeeded refund", code="return_not_refunded")
        return await self._send_once(notice.order_id, kind, template(notice))

    @activity.defn
    @raises_business_errors
    async def send_renewal_upcoming(self, subscription_id: str, cycle: int, renewal_date: date) -> str:
        """A few days before a renewal charge (SUBSCRIPTION_RENEWAL_NOTICE_DAYS); recorded as a subscription event."""
        event_id = f"cycle-{cycle}:renewal-reminder:email"
        async with self.engine.connect() as conn:
            if await subscription_store.has_event(conn, subscription_id, event_id):
                return "already_sent"
            row = await subscription_store.get(conn, subscription_id)
            if await suppressions.is_suppressed(conn, row.email):
                return "suppressed"
            titles = await store.titles(conn, [line["sku"] for line in row.lines])
        message = renewal_upcoming_email(RenewalNotice(
            subscription_id=subscription_id, cycle=cycle, email=row.email,
            customer_name=row.shipping_address.get("name"), renewal_date=renewal_date,
            items=[ShipmentItem(sku=line["sku"], title=titles.get(line["sku"], line["sku"]), quantity=line["quantity"])
                   for line in row.lines]))
        message_id = await self.sender.send(message)
        async with self.engine.begin() as conn:
            await subscription_store.append_event(conn, subscription_id, SubscriptionEvent(
                event_id=event_id, type="email.renewal_upcoming", data={"message_id": message_id}))
        log.info("renewal reminder sent", subscription_id=subscription_id, cycle=cycle)
        return "sent"

    async def _skip(self, conn, order_id: str, kind: str) -> str | None:
        if await store.already_sent(conn, order_id, kind):
            return "already_sent"
        if await suppressions.is_suppressed(conn, await store.order_email(conn, order_id)):
            log.info("customer email suppressed", order_id=order_id, kind=kind)
            return "suppressed"
        return None

    async def _send_once(self, order_id: str, kind: str, message: EmailMessage) -> str:
        await self._send(order_id, kind, message)
        return "sent"

    async def _send(self, order_id: str, kind: str, message: EmailMessage) -> bool:
        message_id = await self.sender.send(message)
        async with self.engine.begin() as conn:
            await store.record_sent(conn, order_id, kind, message, message_id)
        log.info("customer email sent", order_id=order_id, kind=kind, sender=self.sender.name, message_id=message_id)
        return True
