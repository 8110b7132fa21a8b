"""One-time sign-in links: ask for one (mailed by ``SignInLinkWorkflow``) and redeem it for a customer token.

How a guest claims the account their checkouts created, and how a forgotten password is reset: proof of the
mailbox. The token is drawn by the sending activity and only its SHA-256 is stored (models/sign_in_links.py).
"""

from datetime import UTC, datetime

import structlog
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from db import customers as store
from db import sign_in_links
from models import workflow_ids
from models.sign_in_links import SignInLinkRequest, token_hash
from services.deps import Deps
from services.errors import Refused
from workflows.sign_in_link import SignInLinkWorkflow

log = structlog.get_logger("orderflow.services.sign_in_links")


async def ask_for_link(deps: Deps, email: str) -> None:
    """Start the mail of a link when ``email`` is a live customer's; silently nothing otherwise, so callers
    answer the same whether it is. One link per customer per minute (the workflow id says which minute)."""
    if not deps.settings.sign_in_links_enabled:
        raise Refused(503, "sign_in_links_not_configured", "sign-in links need STOREFRONT_SIGN_IN_URL")
    async with deps.engine.connect() as conn:
        row = await store.by_email(conn, email)
    if row is None or row.erased_at is not None:
        return
    link_id = workflow_ids.sign_in_link(row.id, int(datetime.now(UTC).timestamp()) // 60)
    try:
        await deps.temporal.start_workflow(
            SignInLinkWorkflow.run, SignInLinkRequest(link_id=link_id, customer_id=row.id), id=link_id,
            task_queue=deps.settings.task_queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    except WorkflowAlreadyStartedError:
        log.info("sign-in link already asked for this minute", customer_id=row.id)


async def redeem(deps: Deps, token: str, password_hash: str | None):
    """The customer a live, unused link names (now used), with ``password_hash`` set as their password when
    given; ``401 invalid_sign_in_link`` otherwise."""
    async with deps.engine.begin() as conn:
        customer_id = await sign_in_links.redeem(conn, token_hash(token), datetime.now(UTC))
        row = await store.by_id_if_live(conn, customer_id) if customer_id else None
        if row is None:
            raise Refused(401, "invalid_sign_in_link", "the sign-in link is unknown, used or expired: ask for a "
                          "new one")
        if password_hash is not None:
            await store.set_password_hash(conn, row.id, password_hash)
    log.info("customer signed in by link", customer_id=row.id, password_set=password_hash is not None)
    return row
