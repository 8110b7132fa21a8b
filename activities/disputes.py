"""Activities of a dispute after it opened: record its funds movements and its close on the order."""

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from db import disputes as dispute_store
from models.commerce import DisputeNotice
from models.disputes import DisputeUpdate

log = structlog.get_logger("orderflow.disputes")


class DisputeActivities:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    @activity.defn
    async def record_dispute_update(self, notice: DisputeNotice, update: DisputeUpdate) -> str:
        """Record a funds movement or the close (won: state before the dispute; lost: chargeback)."""
        async with self.engine.begin() as conn:
            status = await dispute_store.record(conn, notice.order_id, update)
        log.warning("dispute updated", dispute_id=update.dispute_id, order_id=notice.order_id, update=update.kind,
                    order_status=status)
        return status
