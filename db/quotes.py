"""Stored quotes: reused while unexpired for an unchanged cart and address, and looked up by POST /checkouts."""

from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import quotes
from models.errors import NotFound
from models.quotes import Quote


async def save(conn: AsyncConnection, quote: Quote, fingerprint: str) -> Quote:
    """Store the quote; the one stored first under its id when a retried attempt saves it again."""
    await conn.execute(insert(quotes).values(
        id=quote.quote_id, cart_id=quote.cart_id, fingerprint=fingerprint, currency=quote.currency,
        total=quote.total, body=quote.model_dump(mode="json"), expires_at=quote.expires_at,
    ).on_conflict_do_nothing(index_elements=["id"]))
    return await get(conn, quote.quote_id)


async def reusable(conn: AsyncConnection, cart_id: str, fingerprint: str, now: datetime,
                   min_left_seconds: float) -> Quote | None:
    """The newest unexpired quote of the cart with this fingerprint that still has ``min_left_seconds``
    to live (a storefront should not be handed a quote about to expire)."""
    row = (await conn.execute(
        select(quotes.c.body).where(and_(quotes.c.cart_id == cart_id, quotes.c.fingerprint == fingerprint,
                                         quotes.c.expires_at > now))
        .order_by(quotes.c.expires_at.desc()).limit(1)
    )).first()
    if row is None:
        return None
    quote = Quote.model_validate(row.body)
    return quote if (quote.expires_at - now).total_seconds() >= min_left_seconds else None


async def get(conn: AsyncConnection, quote_id: str) -> Quote:
    row = (await conn.execute(select(quotes.c.body).where(quotes.c.id == quote_id))).first()
    if row is None:
        raise NotFound(f"quote {quote_id} not found", code="quote_not_found")
    return Quote.model_validate(row.body)
