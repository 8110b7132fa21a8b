"""Retry and timeout defaults shared by workflows (plain values: safe inside the sandbox)."""

from collections.abc import Awaitable
from datetime import timedelta

from temporalio import workflow

from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

STEP_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                         maximum_interval=timedelta(seconds=10))
# A provider call that keeps failing for this long is reported instead of retried forever.
PROVIDER_BUDGET = timedelta(minutes=5)


def failure_code(failure: ActivityError) -> tuple[str, str]:
    """(code, message) of a failed activity: the business code, or 'provider_unavailable'."""
    cause = failure.cause
    if isinstance(cause, ApplicationError) and cause.non_retryable and cause.type:
        return cause.type, cause.message
    return "provider_unavailable", "a provider did not respond within its retry budget"


async def best_effort(step: Awaitable, what: str) -> None:
    """Run a step whose failure must not stop the workflow (e.g. customer email); log it instead."""
    try:
        await step
    except ActivityError as failure:
        workflow.logger.warning("%s skipped: %s", what, failure_code(failure)[0])
