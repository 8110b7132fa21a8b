"""Failed authentication per client address: the throttle's shared state (one row per address).

A fixed window starts at an address's first failure; ``failures`` counts within it and a failure
after it has ended starts a new one. Rows of ended windows are deleted as failures arrive, so the
table holds only addresses that failed recently.
"""

import math
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import auth_failures

UNKNOWN_ADDRESS = "unknown"  # a peer the server could not name still gets one shared budget


async def retry_after(conn: AsyncConnection, address: str, now: datetime, *, limit: int,
                      window: timedelta) -> int | None:
    """Seconds until ``address`` may try again when it has used up its failures, else None."""
    row = (await conn.execute(select(auth_failures.c.failures, auth_failures.c.window_started_at)
                              .where(auth_failures.c.client_address == address))).first()
    if row is None or row.failures < limit:
        return None
    remaining = (row.window_started_at + window - now).total_seconds()
    return math.ceil(remaining) if remaining > 0 else None


async def record_failure(conn: AsyncConnection, address: str, now: datetime, *, window: timedelta) -> int:
    """Count one failure for ``address``; returns its failures in the current window."""
    ended = auth_failures.c.window_started_at <= now - window
    await conn.execute(delete(auth_failures).where(ended, auth_failures.c.client_address != address))
    statement = insert(auth_failures).values(client_address=address, failures=1, window_started_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[auth_failures.c.client_address],
        set_={"failures": case((ended, 1), else_=auth_failures.c.failures + 1),
              "window_started_at": case((ended, now), else_=auth_failures.c.window_started_at)},
    ).returning(auth_failures.c.failures)
    return (await conn.execute(statement)).scalar_one()
