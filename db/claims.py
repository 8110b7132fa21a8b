"""Claims whose workflow could not be started: released, unless a retry has taken them over since.

A handler claims a row (an Idempotency-Key's checkout or subscription, a return) and commits, then starts
the row's workflow with no transaction held. If the start fails, the claim is deleted so that nothing
records a thing that never ran, and a retry with the same key claims and starts it afresh. A concurrent
retry may meanwhile have started the workflow: every claimer ``stamp``s the row before starting, and
``release`` deletes it only while the stamp it read is still the row's version (PostgreSQL's ``xmin``,
the transaction that wrote it last; the workflow's own writes change it too).
"""

from sqlalchemy import and_, delete, literal_column, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import checkouts, returns, subscriptions

CLAIMED = {"checkout": checkouts, "return": returns, "subscription": subscriptions}
_VERSION = literal_column("xmin::text")


async def stamp(conn: AsyncConnection, kind: str, row_id: str) -> str | None:
    """Make this transaction the last writer of the claimed row: its version, for ``release``.
    None when the row is gone (released by a failed attempt between reading it and now)."""
    table = CLAIMED[kind]
    return (await conn.execute(update(table).where(table.c.id == row_id)
                               .values(updated_at=table.c.updated_at).returning(_VERSION))).scalar()


async def release(conn: AsyncConnection, kind: str, row_id: str, version: str) -> bool:
    """Delete the claimed row if nobody wrote it since ``stamp`` answered ``version``."""
    table = CLAIMED[kind]
    deleted = await conn.execute(delete(table).where(and_(table.c.id == row_id, _VERSION == version)))
    return deleted.rowcount == 1
