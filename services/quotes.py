"""Quotes: what a checkout of a cart to an address will charge (POST /carts/{id}/quote).

Computed by the same code as the checkout's activities (activities/quoting.py). The cart is priced here and
a stored quote for an unchanged cart and address is answered from the database; a new question is put to
the carrier and the tax provider by ``QuoteWorkflow`` in the worker: the API process calls no provider.
"""

from datetime import UTC, datetime

from temporalio.client import WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.quoting import reusable_or_ask
from models import workflow_ids
from models.errors import DomainError
from models.quotes import Quote, QuoteAsk, QuoteRequest
from services.deps import Deps
from services.errors import Refused
from workflows.quote import QUOTE_BUDGET, QuoteWorkflow

QUOTE_RETRY_AFTER_SECONDS = 5
# The API's bounded wait: the workflow's own budget, plus time for a busy worker to pick it up. A quote
# nobody ran by then times out in Temporal too, so nothing is left behind.
QUOTE_WAIT = QUOTE_BUDGET * 2


async def quote(deps: Deps, cart_id: str, request: QuoteRequest) -> Quote:
    """``503 quote_unavailable`` (+ ``Retry-After``) while the carrier or the tax service does not answer."""
    found = await reusable_or_ask(deps.engine, cart_id, request, datetime.now(UTC), deps.settings.quote_ttl_seconds)
    if isinstance(found, Quote):
        return found
    return await _ask_providers(deps, found)


async def _ask_providers(deps: Deps, ask: QuoteAsk) -> Quote:
    try:
        return await deps.temporal.execute_workflow(
            QuoteWorkflow.run, ask, id=workflow_ids.quote(ask.cart_id, ask.fingerprint),
            task_queue=deps.settings.task_queue, execution_timeout=QUOTE_WAIT,
            # asked again once the stored quote is spent (half its life); asked twice at once, answered once
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Shipping and tax quote of cart {ask.cart_id}",
        )
    except WorkflowFailureError as error:
        raise _refusal(error) from error
    except RPCError as error:  # Temporal itself unreachable: as much an outage to the shopper
        raise _unavailable() from error


def _refusal(error: WorkflowFailureError) -> DomainError:
    """The activity's business refusal as it was raised (422 with its code and details), else a 503: the
    providers did not answer within the budget, or no worker ran the quote in time."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type and cause.type != "provider_unavailable":
        return DomainError(cause.message, code=cause.type, details=cause.details[0] if cause.details else None)
    return _unavailable()


def _unavailable() -> Refused:
    return Refused(503, "quote_unavailable", "the shipping or tax service did not answer; retry shortly",
                   headers={"Retry-After": str(QUOTE_RETRY_AFTER_SECONDS)})
