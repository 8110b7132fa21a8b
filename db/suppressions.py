"""The email suppression list: addresses that get no marketing email (abandoned-cart reminders).

Addresses are stored normalised (``models.unsubscribe.normalise_email``), so one row covers every
spelling. Suppressing is idempotent: the first reason and source are kept.
"""

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import email_suppressions
from models.unsubscribe import normalise_email

UNSUBSCRIBED = "unsubscribed"


async def suppress(conn: AsyncConnection, email: str, reason: str = UNSUBSCRIBED, *, source: str) -> bool:
    """Add ``email`` to the list; True when it was not on it yet."""
    added = await conn.execute(
        insert(email_suppressions).values(email=normalise_email(email), reason=reason, source=source)
        .on_conflict_do_nothing(index_elements=["email"]).returning(email_suppressions.c.email)
    )
    return added.first() is not None


async def is_suppressed(conn: AsyncConnection, email: str) -> bool:
    found = await conn.execute(select(email_suppressions.c.email)
                               .where(email_suppressions.c.email == normalise_email(email)))
    return found.first() is not None
