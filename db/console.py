"""Support console: browser sessions standing for an API key, and the console's read views.

The cookie holds a random token; only its SHA-256 is stored (like API keys, it carries 256
random bits, so a fast hash suffices). A session dies with its expiry or its key's revocation.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import api_keys, console_sessions, payment_operations
from models.auth import Caller

SESSION_TTL = timedelta(hours=8)
MAX_TOKEN_LENGTH = 100


@dataclass(frozen=True)
class ConsoleSession:
    caller: Caller
    csrf_token: str
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(conn: AsyncConnection, caller: Caller, now: datetime) -> tuple[str, ConsoleSession]:
    """A new session for ``caller`` (a live key): the cookie token, shown once, and the session."""
    await conn.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now))  # housekeeping
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires_at = now + SESSION_TTL
    await conn.execute(console_sessions.insert().values(token_hash=_hash(token), key_id=caller.key_id,
                                                        csrf_token=csrf, expires_at=expires_at))
    return token, ConsoleSession(caller=caller, csrf_token=csrf, expires_at=expires_at)


async def find_session(conn: AsyncConnection, token: str | None, now: datetime) -> ConsoleSession | None:
    """The live session a cookie token names, or None (unknown, expired, or its key revoked)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = (await conn.execute(
        select(console_sessions.c.csrf_token, console_sessions.c.expires_at, api_keys.c.id, api_keys.c.name,
               api_keys.c.role)
        .join(api_keys, api_keys.c.id == console_sessions.c.key_id)
        .where(console_sessions.c.token_hash == _hash(token), console_sessions.c.expires_at > now,
               api_keys.c.revoked_at.is_(None))
    )).first()
    if row is None:
        return None
    return ConsoleSession(caller=Caller(key_id=row.id, name=row.name, role=row.role), csrf_token=row.csrf_token,
                          expires_at=row.expires_at)


async def close_session(conn: AsyncConnection, token: str | None) -> None:
    if token and len(token) <= MAX_TOKEN_LENGTH:
        await conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == _hash(token)))


async def payment_operations_for_order(conn: AsyncConnection, order: dict) -> list:
    """The ledger of an order: its checkout's authorization and any re-authorizations (``<order_id>:…``)."""
    rows = await conn.execute(
        select(payment_operations)
        .where(or_(payment_operations.c.payment_ref == order["checkout_id"],
                   payment_operations.c.payment_ref == order["payment_ref"],
                   payment_operations.c.payment_ref.startswith(f"{order['id']}:", autoescape=True)))
        .order_by(payment_operations.c.created_at, payment_operations.c.id)
    )
    return list(rows)
