"""Kill switches stored in PostgreSQL; read on every checkout (a primary-key lookup)."""

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import kill_switches
from models.errors import DomainError, NotFound
from models.switches import KINDS


def _known(kind: str, name: str) -> None:
    if kind not in KINDS:
        raise NotFound(f"unknown switch kind {kind!r}; use one of {sorted(KINDS)}", code="unknown_switch_kind")
    if name not in KINDS[kind]:
        raise DomainError(f"unknown {kind} {name!r}; known: {', '.join(KINDS[kind])}", code="unknown_method")


async def set_switch(conn: AsyncConnection, kind: str, name: str, *, disabled: bool, reason: str) -> None:
    _known(kind, name)
    await conn.execute(
        insert(kill_switches).values(kind=kind, name=name, disabled=disabled, reason=reason)
        .on_conflict_do_update(index_elements=["kind", "name"],
                               set_={"disabled": disabled, "reason": reason, "updated_at": func.now()})
    )


async def disabled(conn: AsyncConnection, kind: str) -> set[str]:
    rows = await conn.execute(
        select(kill_switches.c.name).where(kill_switches.c.kind == kind, kill_switches.c.disabled.is_(True))
    )
    return set(rows.scalars())


async def all_switches(conn: AsyncConnection) -> list:
    return list(await conn.execute(select(kill_switches).order_by(kill_switches.c.kind, kill_switches.c.name)))
