"""Inventory reads: available-to-promise per SKU and location, and low-stock alerts."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import ReadConn
from api.schemas import ErrorResponse, InventoryOut, LocationStock
from db import inventory, stock_alerts
from db.catalog import variant_id_of

router = APIRouter(prefix="/inventory", tags=["inventory"])


class LowStockAlertOut(BaseModel):
    id: str
    sku: str
    atp_at_alert: int
    reorder_point: int
    open: bool
    created_at: datetime
    resolved_at: datetime | None


# Declared before /{sku} so "alerts" is never taken for a SKU.
@router.get("/alerts", response_model=list[LowStockAlertOut])
async def list_low_stock_alerts(
    conn: ReadConn,
    open_only: Annotated[bool | None, Query(alias="open", description="true: open only, false: resolved only")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[LowStockAlertOut]:
    """Low-stock alerts, newest first: one per time a SKU's ATP fell to its reorder point."""
    rows = await stock_alerts.list_alerts(conn, open_only=open_only, limit=limit)
    return [LowStockAlertOut(**row._asdict(), open=row.resolved_at is None) for row in rows]


@router.get("/{sku}", response_model=InventoryOut, responses={404: {"model": ErrorResponse}})
async def get_inventory(sku: str, conn: ReadConn) -> InventoryOut:
    await variant_id_of(conn, sku)
    levels = await inventory.levels_for(conn, sku)
    rows = [
        LocationStock(location_id=level.location_id, location_code=code, on_hand=level.on_hand,
                      reserved=level.reserved, safety_stock=level.safety_stock,
                      inbound_transfers=level.inbound_transfers, outbound_transfers=level.outbound_transfers,
                      atp=level.atp)
        for level, code in levels
    ]
    return InventoryOut(sku=sku, atp=sum(r.atp for r in rows), locations=rows)
