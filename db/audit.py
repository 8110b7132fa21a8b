"""The audit log: who changed what by hand, and why.

Call ``record`` on the connection of the change itself, so the change and its audit row
commit or roll back together.
"""

from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import audit_log
from models.auth import Caller
from models.ids import public_id

log = structlog.get_logger("orderflow.audit")


async def record(conn: AsyncConnection, caller: Caller, action: str, *, order_id: str | None = None,
                 target: str | None = None, amount: int | None = None, currency: str | None = None,
                 reason: str = "", details: dict[str, Any] | None = None) -> str:
    """Append one entry; ``action`` is dotted, e.g. ``kill_switch.set`` or ``order.refund``.

    The request id comes from the logging context the API middleware binds (None at the CLI).
    """
    entry_id = public_id("audit")
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    await conn.execute(audit_log.insert().values(
        id=entry_id, actor_key_id=caller.key_id, actor_name=caller.name, actor_role=caller.role, action=action,
        order_id=order_id, target=target, amount=amount, currency=currency, reason=reason,
        request_id=request_id, details=details or {},
    ))
    log.info("audited", action=action, actor=caller.name, order_id=order_id, target=target)
    return entry_id


async def for_order(conn: AsyncConnection, order_id: str) -> list[dict]:
    """The order's entries, oldest first."""
    rows = await conn.execute(select(audit_log).where(audit_log.c.order_id == order_id).order_by(audit_log.c.seq))
    return [row._asdict() for row in rows]
