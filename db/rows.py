"""Fetching one row by its public id (optionally locked, or a coded 404), and newest-first pages."""

from sqlalchemy import Select, Table, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from models.errors import DomainError, NotFound


async def row_or_404(conn: AsyncConnection, table: Table, row_id: str, *, what: str, code: str, lock: bool = False,
                     columns: tuple = ()):
    """The row (only ``columns`` of it, if given) whose id is ``row_id``; NotFound ``code`` otherwise."""
    query = select(*(columns or (table,))).where(table.c.id == row_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise NotFound(f"{what} {row_id} not found", code=code)
    return row


async def newest_first(conn: AsyncConnection, query: Select, table: Table, *, limit: int,
                       after: str | None = None) -> tuple[list[dict], str | None]:
    """One page of ``query`` over ``table``, newest first: (rows, the id to pass as ``after`` next, or None).

    Keyset paging on (created_at, id): rows written meanwhile never shift a page. An ``after`` that
    names no row of ``table`` is 422 ``invalid_cursor``.
    """
    if after is not None:
        cursor = (await conn.execute(select(table.c.created_at, table.c.id).where(table.c.id == after))).first()
        if cursor is None:
            raise DomainError(f"{after!r} is not a valid cursor: page on with the last id of the previous page",
                              code="invalid_cursor")
        query = query.where(tuple_(table.c.created_at, table.c.id) < tuple_(cursor.created_at, cursor.id))
    rows = [row._asdict() for row in await conn.execute(
        query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit + 1))]
    return rows[:limit], (rows[limit - 1]["id"] if len(rows) > limit else None)


def of_customer(query: Select, table: Table, *, email: str | None, status: str | None) -> Select:
    """Narrow ``query`` to one customer (email, any case: served by a lower(email) index) and/or one status."""
    if email is not None:
        query = query.where(func.lower(table.c.email) == email.strip().lower())
    if status is not None:
        query = query.where(table.c.status == status)
    return query
