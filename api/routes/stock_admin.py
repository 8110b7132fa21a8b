"""Inventory admin beyond single counts (api/routes/admin_inventory.py): the stock list across SKUs and
locations (JSON or CSV), bulk stock counts by CSV (with a dry run and a per-row report), and the reorder
point and safety stock that decide low-stock alerts."""

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.auth import CurrentCaller
from api.deps import Engine, ReadConn, Services
from api.csv_answers import Format, csv_response, wants_csv
from api.schemas import ErrorResponse, Strict
from db import audit, inventory
from models.errors import DomainError
from models.inventory import INT_MAX
from models.reports import csv_text
from models.stock_admin import STOCK_CSV_COLUMNS, StockRow, parse_counts
from services import stock_admin

router = APIRouter(tags=["admin"])
_ERRORS = {404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


@router.get("/inventory", response_model=list[StockRow], responses={
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with `format=csv` or `Accept: text/csv`"}})
async def stock_list(request: Request, conn: ReadConn, location: str | None = Query(None, max_length=50),
                     below_reorder_point: bool = False, format: Format = None):
    """Every SKU at every location, by SKU then location code; `below_reorder_point=true` keeps the SKUs whose
    total ATP is at or below their reorder point."""
    rows = await inventory.stock_list(conn, location=location, below_reorder_point=below_reorder_point)
    if wants_csv(request, format):
        return csv_response(csv_text(STOCK_CSV_COLUMNS, [row.csv_row() for row in rows]), "inventory")
    return rows


class CountReport(BaseModel):
    dry_run: bool
    applied: int = Field(description="Rows counted (with a dry run: that would be)")
    refused: int
    rows: list[dict] = Field(description="Per row: status ok (on_hand_before, on_hand, delta) or refused/invalid "
                                         "(code, message)")


@router.post("/admin/inventory/counts", response_model=CountReport, responses=_ERRORS, openapi_extra={
    "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}})
async def bulk_counts(request: Request, engine: Engine, caller: CurrentCaller, dry_run: bool = False,
                      reference: str | None = Query(None, max_length=100)) -> CountReport:
    """A CSV body `sku,location,on_hand[,safety_stock,reorder_point]`: each row is a stock count (ledger reason
    `count`). Rows are independent: a bad row is reported and the others apply. `dry_run=true` checks every row
    against the current stock and changes nothing."""
    try:
        text = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DomainError("the CSV must be UTF-8", code="invalid_csv") from exc
    lines, problems = parse_counts(text)
    if problems and problems[0].row == 0:
        raise DomainError(problems[0].message, code="invalid_csv")
    report = [{"row": p.row, "status": "invalid", "code": p.code, "message": p.message} for p in problems]
    async with engine.connect() as conn:
        async with conn.begin() as transaction:
            report += [await inventory.apply_count(conn, line, reference=reference) for line in lines]
            applied = sum(1 for row in report if row["status"] == "ok")
            if dry_run:
                await transaction.rollback()
            else:
                await audit.record(conn, caller, "inventory.counts_imported", reason="count",
                                   details={"reference": reference, "applied": applied,
                                            "refused": len(report) - applied})
    return CountReport(dry_run=dry_run, applied=applied, refused=len(report) - applied,
                       rows=sorted(report, key=lambda row: row["row"]))


class ReorderPointIn(Strict):
    reorder_point: int = Field(ge=0, le=INT_MAX, description="Total ATP at or below which a low-stock alert "
                                                             "opens; 0 turns alerts off")


class SafetyStockIn(Strict):
    safety_stock: int = Field(ge=0, le=INT_MAX, description="Units this location keeps back from sale")


@router.patch("/admin/inventory/{sku}", status_code=204, responses=_ERRORS)
async def set_reorder_point(sku: str, body: ReorderPointIn, services: Services, caller: CurrentCaller) -> None:
    """The SKU's reorder point; the low-stock alert opens or resolves at once. Audited."""
    await stock_admin.set_reorder_point(services, stock_admin.SetReorderPoint(
        sku=sku, reorder_point=body.reorder_point, caller=caller))


@router.patch("/admin/inventory/{sku}/locations/{location_code}", status_code=204, responses=_ERRORS)
async def set_safety_stock(sku: str, location_code: str, body: SafetyStockIn, services: Services,
                           caller: CurrentCaller) -> None:
    """The location's safety stock for the SKU (its ATP changes; on hand does not). Audited."""
    await stock_admin.set_safety_stock(services, stock_admin.SetSafetyStock(
        sku=sku, location_code=location_code, safety_stock=body.safety_stock, caller=caller))
