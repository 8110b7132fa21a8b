"""Stored sign-in links: the hash of each link's token, its customer, expiry and use."""

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import sign_in_links


async def store(conn: AsyncConnection, link_id: str, customer_id: str, token_hash: str, expires_at: datetime) -> None:
    """Keep the link's token hash; a retried send replaces it, so only the last mailed token works."""
    statement = insert(sign_in_links).values(id=link_id, customer_id=customer_id, token_hash=token_hash,
                                             expires_at=expires_at)
    await conn.execute(statement.on_conflict_do_update(
        index_elements=[sign_in_links.c.id], set_={"token_hash": token_hash, "expires_at": expires_at},
        where=sign_in_links.c.used_at.is_(None)))


async def redeem(conn: AsyncConnection, token_hash: str, now: datetime) -> str | None:
    """The customer a live, unused link names, marking it used (one redemption even when two race)."""
    used = await conn.execute(
        update(sign_in_links)
        .where(sign_in_links.c.token_hash == token_hash, sign_in_links.c.used_at.is_(None),
               sign_in_links.c.expires_at > now)
        .values(used_at=now).returning(sign_in_links.c.customer_id))
    return used.scalar()
