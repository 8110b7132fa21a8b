"""``Prefer: wait=N`` on POST /checkouts (RFC 7240): answer with the outcome if it comes within N seconds.

A storefront that sends it gets ``200`` with the completed (or failed) checkout when the workflow ends
in time, and otherwise the usual ``202`` (pending) to poll as before. The wait reads the workflow's
result (one long poll on the Temporal server, no polling of ours) and is capped at MAX_WAIT_SECONDS.
"""

import asyncio
import re

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from db import checkouts as store

MAX_WAIT_SECONDS = 30.0
_WAIT = re.compile(r"(?:^|[,;])\s*wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?\s*(?=$|[,;])", re.IGNORECASE)


def preferred_wait(prefer: str | None) -> float:
    """Seconds asked for by a ``Prefer`` header (0: none, or malformed), at most MAX_WAIT_SECONDS."""
    found = _WAIT.search(prefer or "")
    return min(float(found.group(1)), MAX_WAIT_SECONDS) if found else 0.0


async def settled_checkout(engine: AsyncEngine, temporal: Client, row, seconds: float):
    """The checkout's row once its workflow has ended, or ``row`` as it was if it has not within ``seconds``.

    The row, not the workflow's result, is the answer: it is what GET /checkouts/{id} shows, and the
    workflow settles it before it ends."""
    try:
        await asyncio.wait_for(temporal.get_workflow_handle(row.workflow_id).result(), seconds)
    except (TimeoutError, WorkflowFailureError, RPCError):
        return row  # still running (or unreadable now): the client polls, as without the header
    async with engine.connect() as conn:
        return await store.get(conn, row.id)
