"""API key management for admins (handlers: services/api_keys.py, shared with the `orderflow keys` command)."""

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from api.auth import CurrentCaller
from api.deps import Services
from api.schemas import ErrorResponse, Strict
from models.auth import Role
from services import api_keys

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
async def list_keys(services: Services) -> list[KeyOut]:
    return [KeyOut(**vars(key)) for key in await api_keys.list_keys(services.engine)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
async def create_key(body: KeyCreate, services: Services, caller: CurrentCaller, response: Response) -> KeyCreated:
    key, secret = await api_keys.create_key(services.engine, api_keys.CreateKey(name=body.name, role=body.role,
                                                                                caller=caller))
    response.headers["Cache-Control"] = "no-store"  # the secret must not linger in caches
    return KeyCreated(**vars(key), secret=secret)


@router.post("/{key_id}/revoke", response_model=KeyOut, responses={404: {"model": ErrorResponse}})
async def revoke_key(key_id: str, services: Services, caller: CurrentCaller,
                     body: KeyRevoke | None = None) -> KeyOut:
    key = await api_keys.revoke_key(services.engine, api_keys.RevokeKey(key_id=key_id, caller=caller,
                                                                        reason=body.reason if body else ""))
    return KeyOut(**vars(key))
