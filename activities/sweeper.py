"""Release of stock holds whose checkout never finished, run by the ``reservation-sweep`` Schedule.

``expire_due`` skips rows another transaction has locked, so overlapping sweeps are harmless.
"""

from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from db import inventory

log = structlog.get_logger("orderflow.sweeper")


async def sweep_once(engine: AsyncEngine, now: datetime | None = None) -> int:
    async with engine.begin() as conn:
        released = await inventory.expire_due(conn, now=now or datetime.now(UTC))
    if released:
        log.info("expired stock holds released", units=released)
    return released


class SweeperActivities:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    @activity.defn
    async def release_expired_holds(self) -> int:
        """Units released; the database clock's "now" is the activity's (a retry sees a later one)."""
        return await sweep_once(self.engine)
