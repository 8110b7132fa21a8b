"""The audit log: who changed what by hand, and why.

Call ``record`` on the connection of the change itself, so the change and its audit row
commit or roll back together.
"""

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import audit_log
from models.auth import Caller
from models.errors import DomainError
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


async def browse(conn: AsyncConnection, *, actor: str | None = None, action: str | None = None,
                 since: datetime | None = None, until: datetime | None = None, after: str | None = None,
                 limit: int = 100) -> tuple[list[dict], str | None]:
    """Entries newest first, filtered; (page, the id to pass as ``after`` for the next page or None).

    ``actor`` is a key id or a key's name (the CLI is ``cli``); ``action`` is exact (``order.refund``) or a
    prefix ending in ``.*`` (``order.*``); ``since`` is inclusive, ``until`` exclusive. ``after`` names the last
    entry of the previous page (an unknown id is ``invalid_cursor``).
    """
    query = select(audit_log)
    if actor:
        query = query.where(or_(audit_log.c.actor_key_id == actor, audit_log.c.actor_name == actor))
    if action:
        query = query.where(audit_log.c.action.startswith(action[:-1], autoescape=True) if action.endswith(".*")
                            else audit_log.c.action == action)
    if since:
        query = query.where(audit_log.c.at >= since)
    if until:
        query = query.where(audit_log.c.at < until)
    if after:
        seq = (await conn.execute(select(audit_log.c.seq).where(audit_log.c.id == after))).scalar()
        if seq is None:
            raise DomainError(f"no audit entry {after!r} to page after", code="invalid_cursor")
        query = query.where(audit_log.c.seq < seq)
    rows = [row._asdict() for row in await conn.execute(query.order_by(audit_log.c.seq.desc()).limit(limit + 1))]
    return rows[:limit], rows[limit - 1]["id"] if len(rows) > limit else None
