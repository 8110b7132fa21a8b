"""Background release of stock holds whose checkout never finished (runs inside each worker).

``expire_due`` skips rows another worker has locked, so any number of workers can sweep.
"""

import asyncio
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from db import inventory

log = structlog.get_logger("orderflow.sweeper")


async def sweep_once(engine: AsyncEngine, now: datetime | None = None) -> int:
    async with engine.begin() as conn:
        released = await inventory.expire_due(conn, now=now or datetime.now(UTC))
    if released:
        log.info("expired stock holds released", units=released)
    return released


async def run_sweeper(engine: AsyncEngine, interval_seconds: float = 30.0) -> None:
    while True:
        try:
            await sweep_once(engine)
        except Exception:  # a failed sweep is retried next interval; it must not kill the worker
            log.exception("reservation sweep failed")
        await asyncio.sleep(interval_seconds)
