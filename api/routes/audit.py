"""The audit log: one order's trail (support), and every action by anyone, filtered (ops)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import ReadConn
from api.schemas import ErrorResponse
from db import audit
from db import orders as order_store
from models.errors import DomainError

router = APIRouter(tags=["support"])


class AuditEntryOut(BaseModel):
    id: str
    at: datetime
    actor_key_id: str | None
    actor_name: str
    actor_role: str
    action: str
    order_id: str | None
    target: str | None
    amount: int | None
    currency: str | None
    reason: str
    request_id: str | None
    details: dict


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_after: str | None


@router.get("/orders/{order_id}/audit", response_model=list[AuditEntryOut], responses={404: {"model": ErrorResponse}})
async def order_audit(order_id: str, conn: ReadConn) -> list[AuditEntryOut]:
    """Oldest first."""
    await order_store.get_order(conn, order_id)  # 404 for unknown orders
    return [AuditEntryOut(**entry) for entry in await audit.for_order(conn, order_id)]


@router.get("/audit", response_model=AuditPage, responses={422: {"model": ErrorResponse}})
async def browse_audit(
    conn: ReadConn,
    actor: Annotated[str | None, Query(max_length=100, description="A key id, or a key's name (`cli`)")] = None,
    action: Annotated[str | None, Query(max_length=60, description="`order.refund`, or a prefix: `order.*`")] = None,
    since: Annotated[datetime | None, Query(description="From this instant (inclusive, ISO 8601 with offset)")] = None,
    until: Annotated[datetime | None, Query(description="Before this instant (exclusive)")] = None,
    after: Annotated[str | None, Query(max_length=40, description="`next_after` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Every audited action, newest first, one page at a time (`next_after` is null on the last page)."""
    for name, instant in (("since", since), ("until", until)):
        if instant is not None and instant.tzinfo is None:
            raise DomainError(f"{name} needs a time zone offset (e.g. 2026-11-30T00:00:00Z)", code="invalid_instant")
    entries, next_after = await audit.browse(conn, actor=actor, action=action, since=since, until=until,
                                             after=after, limit=limit)
    return AuditPage(entries=[AuditEntryOut(**entry) for entry in entries], next_after=next_after)
