"""Ops' inventory records: stock locations and the stock ledger as ops read it."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import inventory_ledger, locations
from models.errors import Conflict


async def create_location(conn: AsyncConnection, location: dict) -> None:
    """``location_code_taken`` (409) when the code is in use, also when a concurrent request took it."""
    taken = Conflict(f"location code {location['code']!r} is already in use", code="location_code_taken")
    if (await conn.execute(select(locations.c.id).where(locations.c.code == location["code"]))).first():
        raise taken
    try:
        await conn.execute(locations.insert().values(**location))
    except IntegrityError as exc:  # a concurrent request took the code after our check
        raise taken from exc


async def list_locations(conn: AsyncConnection) -> list[dict]:
    rows = await conn.execute(select(locations).order_by(locations.c.code))
    return [dict(row._mapping) for row in rows]


async def ledger_entries(conn: AsyncConnection, sku: str, limit: int) -> list[dict]:
    """The SKU's stock movements, newest first, with the location's code."""
    rows = await conn.execute(
        select(inventory_ledger, locations.c.code.label("location_code"))
        .outerjoin(locations, locations.c.id == inventory_ledger.c.location_id)
        .where(inventory_ledger.c.sku == sku)
        .order_by(inventory_ledger.c.id.desc())  # internal id: insertion order, never exposed
        .limit(limit)
    )
    return [dict(row._mapping) for row in rows]
