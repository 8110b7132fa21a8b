"""Mailing one-time sign-in links (the token is drawn here, so it never enters a workflow history)."""

import secrets
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.errors import raises_business_errors
from adapters.ports import EmailSender
from db import customers
from db import sign_in_links as store
from models.sign_in_links import LINK_TTL_MINUTES, SignInLinkRequest, sign_in_link_email, sign_in_url, token_hash

log = structlog.get_logger("orderflow.activities")


class SignInLinkActivities:
    def __init__(self, engine: AsyncEngine, sender: EmailSender, sign_in_page: str):
        self.engine = engine
        self.sender = sender
        self.sign_in_page = sign_in_page

    @activity.defn
    @raises_business_errors
    async def send_sign_in_link(self, request: SignInLinkRequest) -> bool:
        """Mail a fresh link; False when the customer was erased meanwhile. A retry (the send's answer was
        lost) stores a new token before mailing it: only the newest mailed link works, never an unsent one."""
        token = secrets.token_urlsafe(32)
        expires_at = datetime.now(UTC) + timedelta(minutes=LINK_TTL_MINUTES)
        async with self.engine.begin() as conn:
            customer = await customers.by_id_if_live(conn, request.customer_id)
            if customer is None:  # erased since the link was asked for
                return False
            await store.store(conn, request.link_id, request.customer_id, token_hash(token), expires_at)
        message = sign_in_link_email(to=customer.email, link_id=f"{request.link_id}:{activity.info().attempt}",
                                     url=sign_in_url(self.sign_in_page, token))
        await self.sender.send(message)
        log.info("sign-in link sent", customer_id=request.customer_id, link_id=request.link_id,
                 sender=self.sender.name)
        return True
