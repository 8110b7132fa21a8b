"""Steps that must not give up: those after money was taken (a parcel whose payment was captured
must ship) and the order's own loading and routing.

Such a step retries with a capped backoff for PERSISTENT_BUDGET; past it the workflow raises
an alert (FulfillmentAlert) and tries again after a pause or an ops retry signal, forever. A short
database-only one with an idempotent body may run as a local activity (``_persist_locally``): same
contract, no server round trip.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.common import failure_code, run_local

PERSISTENT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                               maximum_interval=timedelta(minutes=5))
PERSISTENT_BUDGET = timedelta(hours=1)


class PersistentSteps:
    """Mixin of a workflow with steps that must not give up. The workflow provides ``alert`` (its
    current alert), ``retry_requested`` (set by its ops retry signal), ``_set_alert(alert | None)``
    and ``_wait_for_ops_retry()`` (the pause before another try)."""

    alert: str | None
    retry_requested: bool

    async def _persist(self, alert: str, method, *args):
        """Run ``method(*args)`` until it succeeds: long capped retries; past their budget, alert ops
        (``alert:code``) and go again after the pause. Never fails the workflow."""
        return await self._until_done(alert, lambda: workflow.execute_activity_method(
            method, args=list(args), start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=PERSISTENT_BUDGET, retry_policy=PERSISTENT_RETRY))

    async def _persist_locally(self, alert: str, method, *args):
        """``_persist`` as a local activity (``run_local``): for a short database-only step whose body is
        idempotent, as it reruns if the worker dies before the workflow task completes."""
        return await self._until_done(alert, lambda: run_local(method, *args, budget=PERSISTENT_BUDGET,
                                                               policy=PERSISTENT_RETRY))

    async def _until_done(self, alert: str, attempt):
        """Await ``attempt()`` until it succeeds; each time it fails for good, alert ops and pause."""
        while True:
            self.retry_requested = False  # a retry asked for while this attempt runs is not lost
            try:
                result = await attempt()
            except ActivityError as failure:
                await self._set_alert(f"{alert}:{failure_code(failure)[0]}")
                await self._wait_for_ops_retry()
                continue
            if self.alert and self.alert.startswith(f"{alert}:"):
                await self._set_alert(None)
            return result
