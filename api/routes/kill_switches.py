"""Ops kill switches: take a payment or shipping method out of checkout immediately."""

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.auth import CurrentCaller
from api.deps import Engine, ReadConn
from db import audit, switches
from models.switches import KINDS

router = APIRouter(prefix="/admin/kill-switches", tags=["ops"])


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
async def set_switch(kind: str, name: str, body: SwitchIn, engine: Engine, caller: CurrentCaller) -> SwitchOut:
    async with engine.begin() as conn:
        await switches.set_switch(conn, kind, name, disabled=body.disabled, reason=body.reason)
        await audit.record(conn, caller, "kill_switch.set", target=f"{kind}/{name}", reason=body.reason,
                           details={"disabled": body.disabled})
    return SwitchOut(kind=kind, name=name, disabled=body.disabled, reason=body.reason)
