"""What the workflows may know of ``activities.disputes``: names and types, no implementation."""

from temporalio import activity

from models.commerce import DisputeNotice
from models.disputes import DisputeUpdate


class DisputeActivities:
    @activity.defn
    async def record_dispute_update(self, notice: DisputeNotice, update: DisputeUpdate) -> str:
        ...
