"""Stored sign-in links: the hash of each link's token, its customer, expiry and use."""

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import customers, sign_in_links


async def live_email(conn: AsyncConnection, customer_id: str) -> str | None:
    """Where to mail the link; None once the customer is erased."""
    row = (await conn.execute(select(customers.c.email, customers.c.erased_at)
                              .where(customers.c.id == customer_id))).first()
    return row.email if row is not None and row.erased_at is None else None


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
