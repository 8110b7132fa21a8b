"""What the workflows may know of ``activities.sweeper``: names and types, no implementation."""

from temporalio import activity


class SweeperActivities:
    @activity.defn
    async def release_expired_holds(self) -> int:
        ...
