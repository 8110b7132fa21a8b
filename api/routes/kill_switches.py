"""Ops kill switches: take a payment or shipping method out of checkout immediately."""

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import Engine, ReadConn
from db import switches
from models.switches import KINDS

router = APIRouter(prefix="/admin/kill-switches", tags=["ops"])
# Authentication and roles arrive with the support/ops issue; until then deploy behind a private network.


class SwitchIn(BaseModel):
    disabled: bool
    reason: str = Field("", max_length=500)


class SwitchOut(BaseModel):
    kind: str
    name: str
    disabled: bool
    reason: str


@router.get("", response_model=list[SwitchOut])
async def list_switches(conn: ReadConn) -> list[SwitchOut]:
    stored = {(row.kind, row.name): row for row in await switches.all_switches(conn)}
    return [
        SwitchOut(kind=kind, name=name, disabled=bool(stored.get((kind, name)) and stored[(kind, name)].disabled),
                  reason=stored[(kind, name)].reason if (kind, name) in stored else "")
        for kind, names in KINDS.items() for name in names
    ]


@router.put("/{kind}/{name}", response_model=SwitchOut)
async def set_switch(kind: str, name: str, body: SwitchIn, engine: Engine) -> SwitchOut:
    async with engine.begin() as conn:
        await switches.set_switch(conn, kind, name, disabled=body.disabled, reason=body.reason)
    return SwitchOut(kind=kind, name=name, disabled=body.disabled, reason=body.reason)
