"""Mailing the ops alert digest: new parcel alerts, fraud holds waiting too long, return requests about to
expire undecided, low stock."""

from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from adapters.ports import EmailSender
from db import ops_alerts as store
from models.ops_alerts import AlertItem, OpsAlertInput, digest_email

log = structlog.get_logger("orderflow.activities")


class OpsAlertActivities:
    def __init__(self, engine: AsyncEngine, sender: EmailSender):
        self.engine = engine
        self.sender = sender

    @activity.defn
    async def send_ops_alert_digest(self, request: OpsAlertInput, digest_id: str) -> int:
        """Mail what no digest carried yet; how many items the digest holds (0: nothing new, no mail).

        Idempotent by ``digest_id``: the first attempt claims its items in the database before mailing, so a
        retry mails those same items again (same Message-ID) and never claims newer ones under this id."""
        async with self.engine.begin() as conn:
            claimed = await store.digest(conn, digest_id)
            if claimed is None:
                warn_after = request.return_approval_seconds - request.expiry_warning_seconds
                items = await store.unnoticed(conn, now=datetime.now(UTC),
                                              fraud_wait=timedelta(seconds=request.fraud_wait_seconds),
                                              return_warning_after=timedelta(seconds=max(warn_after, 0)))
                if not items:
                    return 0
                await store.claim(conn, digest_id, items)
            elif claimed.sent_at is not None:
                return len(claimed.items)
            else:
                items = [AlertItem.model_validate(item) for item in claimed.items]
        message_id = await self.sender.send(digest_email(request.recipient, digest_id, items))
        async with self.engine.begin() as conn:
            await store.mark_sent(conn, digest_id, message_id)
        log.info("ops alert digest sent", digest_id=digest_id, items=len(items), sender=self.sender.name)
        return len(items)
