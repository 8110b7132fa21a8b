"""A cart's quote from the carrier and the tax provider, for ``POST /carts/{id}/quote``.

The API prices the cart and answers a stored quote itself (a database read); only a new question comes
here, so the provider calls run in the worker, retried, and show in the Temporal UI. The API waits for the
answer (id ``quote-<cart id>-<fingerprint>``: the same question asked twice meets one workflow). A refusal
(an undeliverable address, no such shipping speed) fails it with that code and its details; providers that
do not answer within ``QUOTE_BUDGET`` fail it with ``provider_unavailable`` and the client asks again.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.quoting import QuoteActivities
    from models.quotes import Quote, QuoteAsk
    from workflows.common import failure_code

# A shopper is waiting on the answer: a blip is retried, an outage is reported quickly (503 + Retry-After).
QUOTE_BUDGET = timedelta(seconds=10)
QUOTE_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                          maximum_interval=timedelta(seconds=2), maximum_attempts=3)


@workflow.defn
class QuoteWorkflow:
    @workflow.run
    async def run(self, ask: QuoteAsk) -> Quote:
        try:
            return await workflow.execute_activity_method(
                QuoteActivities.quote_with_providers, ask, start_to_close_timeout=QUOTE_BUDGET,
                schedule_to_close_timeout=QUOTE_BUDGET, retry_policy=QUOTE_RETRY)
        except ActivityError as failure:
            code, message = failure_code(failure)
            details = failure.cause.details if isinstance(failure.cause, ApplicationError) else ()
            raise ApplicationError(message, *details, type=code, non_retryable=True) from None
