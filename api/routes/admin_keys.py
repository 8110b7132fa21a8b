"""API key management for admins (the `orderflow keys` command does the same from a shell)."""

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from api.auth import CurrentCaller
from api.deps import Engine, ReadConn
from api.schemas import ErrorResponse, Strict
from db import api_keys as store
from models.auth import Role

router = APIRouter(prefix="/admin/api-keys", tags=["admin"])


class KeyCreate(Strict):
    name: str = Field(min_length=1, max_length=100, examples=["web storefront"])
    role: Role


class KeyRevoke(Strict):
    reason: str = Field("", max_length=500)


class KeyOut(BaseModel):
    id: str
    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    secret: str = Field(description="Shown only in this response; only its hash is stored")


@router.get("", response_model=list[KeyOut])
async def list_keys(conn: ReadConn) -> list[KeyOut]:
    return [KeyOut(**vars(key)) for key in await store.list_keys(conn)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
async def create_key(body: KeyCreate, engine: Engine, caller: CurrentCaller, response: Response) -> KeyCreated:
    async with engine.begin() as conn:
        key, secret = await store.create_key(conn, name=body.name, role=body.role, actor=caller)
    response.headers["Cache-Control"] = "no-store"  # the secret must not linger in caches
    return KeyCreated(**vars(key), secret=secret)


@router.post("/{key_id}/revoke", response_model=KeyOut, responses={404: {"model": ErrorResponse}})
async def revoke_key(key_id: str, engine: Engine, caller: CurrentCaller, body: KeyRevoke | None = None) -> KeyOut:
    async with engine.begin() as conn:
        key = await store.revoke_key(conn, key_id, actor=caller, reason=body.reason if body else "")
    return KeyOut(**vars(key))
