"""Customer emails, sent at most once per (order, kind) as far as our records go.

A send is skipped when ``notifications`` already holds ``(order_id, kind)``, and recorded only
after the sender succeeded. A crash between the two (or two attempts racing) can therefore mail
the customer twice, but always the same message under the same Message-ID, which mail clients
and our outbox recognise as one. Recording first instead would risk never sending at all.
"""

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.errors import raises_business_errors
from adapters.ports import EmailSender
from db import notifications as store
from models.errors import Conflict
from models.notifications import (
    CONFIRMATION, EmailMessage, delivered_email, delivered_kind, order_confirmation_email, shipped_email,
    shipped_kind,
)

log = structlog.get_logger("orderflow.activities")


class NotificationActivities:
    def __init__(self, engine: AsyncEngine, sender: EmailSender):
        self.engine = engine
        self.sender = sender

    @activity.defn
    @raises_business_errors
    async def send_order_confirmation(self, order_id: str) -> bool:
        """Returns whether an email went out (False: it had been sent before)."""
        async with self.engine.connect() as conn:
            if await store.already_sent(conn, order_id, CONFIRMATION):
                return False
            message = order_confirmation_email(await store.order_confirmation(conn, order_id))
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

    async def _send(self, order_id: str, kind: str, message: EmailMessage) -> bool:
        message_id = await self.sender.send(message)
        async with self.engine.begin() as conn:
            await store.record_sent(conn, order_id, kind, message, message_id)
        log.info("customer email sent", order_id=order_id, kind=kind, sender=self.sender.name, message_id=message_id)
        return True
