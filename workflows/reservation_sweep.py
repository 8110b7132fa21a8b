"""Reservation sweep (started by the ``reservation-sweep`` Schedule every RESERVATION_SWEEP_SECONDS).

Releases stock holds past their expiry. A Schedule rather than a loop in every worker process: one sweep
per interval however many workers run, paused or triggered by ops in the Temporal UI, and visible there.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.sweeper import SweeperActivities

# A sweep that keeps failing is dropped: the next one (an interval later) releases the same holds.
SWEEP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10),
                          maximum_attempts=3)


@workflow.defn
class ReservationSweepWorkflow:
    @workflow.run
    async def run(self) -> int:
        return await workflow.execute_activity_method(
            SweeperActivities.release_expired_holds, start_to_close_timeout=timedelta(seconds=60),
            retry_policy=SWEEP_RETRY)
