"""API keys: create (the secret is returned once), list, revoke, and check a presented secret.

A secret looks like ``ofk_<26 chars of the key id>_<43 chars of randomness>``: the middle part
finds the row by primary key, then the hash is compared in constant time. We store plain
SHA-256, not scrypt/argon2: those slow hashes protect guessable passwords, while this secret
carries 256 random bits, so a leaked hash cannot be brute-forced anyway and checking a key on
every request stays a microsecond instead of tens of milliseconds of CPU.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db import audit
from db.tables import api_keys
from models.auth import ROLES, Caller
from models.errors import DomainError, NotFound
from models.ids import PREFIXES, public_id

SECRET_PREFIX = "ofk"
MAX_SECRET_LENGTH = 200
# Writing last_used_at on every request would make one hot row of each storefront key.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key_id(secret: str) -> str | None:
    """The key id a well-formed secret names, else None."""
    prefix, _, rest = secret.partition("_")
    id_part, _, random_part = rest.partition("_")
    if prefix != SECRET_PREFIX or len(id_part) != 26 or not random_part:
        return None
    return f"{PREFIXES['api_key']}_{id_part}"


def _row(row) -> ApiKey:
    return ApiKey(**{name: getattr(row, name) for name in ApiKey.__dataclass_fields__})


async def create_key(conn: AsyncConnection, *, name: str, role: str, actor: Caller) -> tuple[ApiKey, str]:
    """A new key and its secret (show it once: it cannot be recovered), audited as ``actor``."""
    if role not in ROLES:
        raise DomainError(f"unknown role {role!r}; use one of {', '.join(ROLES)}", code="unknown_role")
    if not name.strip() or len(name) > 100:
        raise DomainError("a key needs a name of 1 to 100 characters", code="invalid_key_name")
    key_id = public_id("api_key")
    secret = f"{SECRET_PREFIX}_{key_id.partition('_')[2]}_{secrets.token_urlsafe(32)}"
    row = (await conn.execute(
        api_keys.insert().values(id=key_id, name=name.strip(), role=role, key_hash=_hash(secret))
        .returning(*api_keys.c)
    )).one()
    await audit.record(conn, actor, "api_key.created", target=key_id, details={"name": row.name, "role": role})
    return _row(row), secret


async def list_keys(conn: AsyncConnection) -> list[ApiKey]:
    rows = await conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id))
    return [_row(row) for row in rows]


async def revoke_key(conn: AsyncConnection, key_id: str, *, actor: Caller, reason: str = "") -> ApiKey:
    """Revoke at once (the next request with it gets 401); revoking twice keeps the first time."""
    row = (await conn.execute(
        update(api_keys).where(api_keys.c.id == key_id)
        .values(revoked_at=func.coalesce(api_keys.c.revoked_at, func.now())).returning(*api_keys.c)
    )).first()
    if row is None:
        raise NotFound(f"API key {key_id} not found", code="api_key_not_found")
    await audit.record(conn, actor, "api_key.revoked", target=key_id, reason=reason,
                       details={"name": row.name, "role": row.role})
    return _row(row)


async def authenticate(conn: AsyncConnection, secret: str, now: datetime) -> Caller | None:
    """The caller a secret belongs to, or None when it is malformed, unknown or revoked."""
    key_id = _key_id(secret) if len(secret) <= MAX_SECRET_LENGTH else None
    if key_id is None:
        return None
    row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, _hash(secret)):
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        await conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))
    return Caller(key_id=row.id, name=row.name, role=row.role)
