"""Retry and timeout defaults shared by workflows (plain values: safe inside the sandbox)."""

import dataclasses
from collections.abc import Awaitable
from datetime import timedelta

from temporalio import workflow

from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as StepTimeout

STEP_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                         maximum_interval=timedelta(seconds=10))
# A provider call that keeps failing for this long is reported instead of retried forever.
PROVIDER_BUDGET = timedelta(minutes=5)
# Quick retries of a local step happen in the worker; longer waits (a database outage) become durable
# timers, so the workflow task is not held open for minutes.
LOCAL_RETRY_THRESHOLD = timedelta(seconds=2)


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


async def run_local(method, *args, budget: timedelta, policy: RetryPolicy = STEP_RETRY,
                    timeout: timedelta = timedelta(seconds=30)):
    """A short step (database-only, or a provider call that only reads) as a local activity: it runs inside
    the workflow task that schedules it (no server round trip), so its body must be idempotent (it reruns if
    the worker dies before the task completes). Retried by ``policy`` for ``budget``; the attempts are bounded
    by what ``policy`` makes within it too, since the worker's clock (not workflow time) times a local activity.

    Fails with an ActivityError, as a normal activity would, so callers read it with ``failure_code``."""
    try:
        return await workflow.execute_local_activity_method(
            method, args=list(args), start_to_close_timeout=timeout, schedule_to_close_timeout=budget,
            local_retry_threshold=LOCAL_RETRY_THRESHOLD,
            retry_policy=dataclasses.replace(policy, maximum_attempts=attempts_within(budget, policy)),
        )
    except (ApplicationError, StepTimeout) as failure:
        # A local activity's failure arrives bare (SDK 1.35), not as an ActivityError: wrap it.
        raise as_activity_error(method.__name__) from failure


def attempts_within(budget: timedelta, policy: RetryPolicy = STEP_RETRY) -> int:
    """How many attempts ``policy`` makes within ``budget`` (its backoffs alone). A local activity's
    schedule-to-close is timed by the worker's clock, which a time-skipping test server does not move:
    bounding the attempts too keeps the budget in workflow time."""
    attempts, elapsed, interval = 1, timedelta(0), policy.initial_interval
    while elapsed + interval <= budget:
        elapsed += interval
        attempts += 1
        interval = min(interval * policy.backoff_coefficient, policy.maximum_interval)
    return attempts


def as_activity_error(activity_type: str) -> ActivityError:
    return ActivityError(f"local activity {activity_type} failed", scheduled_event_id=0, started_event_id=0,
                         identity="", activity_type=activity_type, activity_id="", retry_state=None)
