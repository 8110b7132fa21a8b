"""Inventory reads: available-to-promise per SKU and location."""

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import ReadConn
from api.schemas import ErrorResponse, InventoryOut, LocationStock
from db import inventory
from db.tables import variants
from models.errors import NotFound

router = APIRouter(prefix="/inventory", tags=["inventory"])


@router.get("/{sku}", response_model=InventoryOut, responses={404: {"model": ErrorResponse}})
async def get_inventory(sku: str, conn: ReadConn) -> InventoryOut:
    if (await conn.execute(select(variants.c.id).where(variants.c.sku == sku))).first() is None:
        raise NotFound(f"unknown SKU {sku!r}", code="unknown_sku")
    levels = await inventory.levels_for(conn, sku)
    rows = [
        LocationStock(location_id=level.location_id, location_code=code, on_hand=level.on_hand,
                      reserved=level.reserved, safety_stock=level.safety_stock, atp=level.atp)
        for level, code in levels
    ]
    return InventoryOut(sku=sku, atp=sum(r.atp for r in rows), locations=rows)
