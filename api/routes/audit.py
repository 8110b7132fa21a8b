"""The audit trail of an order: every support and ops action that touched it."""

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import ReadConn
from api.schemas import ErrorResponse
from db import audit
from db import orders as order_store

router = APIRouter(prefix="/orders", tags=["support"])


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


@router.get("/{order_id}/audit", response_model=list[AuditEntryOut], responses={404: {"model": ErrorResponse}})
async def order_audit(order_id: str, conn: ReadConn) -> list[AuditEntryOut]:
    """Oldest first."""
    await order_store.get_order(conn, order_id)  # 404 for unknown orders
    return [AuditEntryOut(**entry) for entry in await audit.for_order(conn, order_id)]
