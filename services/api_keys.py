"""API keys: create, list and revoke, for the admin API and the `orderflow keys` command alike.

Each handler is one short transaction on the engine (no Temporal call), audited as the caller
(``models.auth.CLI_CALLER`` at the command line).
"""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from db import api_keys as store
from db.api_keys import ApiKey
from models.auth import Caller


@dataclass(frozen=True)
class CreateKey:
    name: str
    role: str
    caller: Caller


@dataclass(frozen=True)
class RevokeKey:
    key_id: str
    caller: Caller
    reason: str = ""


async def create_key(engine: AsyncEngine, command: CreateKey) -> tuple[ApiKey, str]:
    """The new key and its secret (shown once: only its hash is stored)."""
    async with engine.begin() as conn:
        return await store.create_key(conn, name=command.name, role=command.role, actor=command.caller)


async def list_keys(engine: AsyncEngine) -> list[ApiKey]:
    async with engine.connect() as conn:
        return await store.list_keys(conn)


async def revoke_key(engine: AsyncEngine, command: RevokeKey) -> ApiKey:
    """Revoked at once (the next request with it gets 401); revoking twice keeps the first time."""
    async with engine.begin() as conn:
        return await store.revoke_key(conn, command.key_id, actor=command.caller, reason=command.reason)
