"""Fetching one row by its public id, optionally locked, or a coded 404."""

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from models.errors import NotFound


async def row_or_404(conn: AsyncConnection, table: Table, row_id: str, *, what: str, code: str, lock: bool = False):
    query = select(table).where(table.c.id == row_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise NotFound(f"{what} {row_id} not found", code=code)
    return row
