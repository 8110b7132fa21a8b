"""Inventory administration for ops: locations, stock counts and the stock ledger
(transfers between locations: api/routes/transfers.py).

Handlers: services/inventory.py; stock changes go through ``db.inventory.set_stock`` so every count is
locked and recorded in the ledger like any other movement.
"""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field, field_validator

from api.auth import CurrentCaller
from api.deps import ReadConn, Services
from api.schemas import MAX_UNITS, ErrorResponse, Strict
from db import inventory_admin
from db.catalog import variant_id_of
from services import inventory

router = APIRouter(prefix="/admin/inventory", tags=["admin"])

_ERRORS = {404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}}


class LocationIn(Strict):
    code: str = Field(max_length=50, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", examples=["us-east"])
    name: str = Field(min_length=1, max_length=200)
    region: str = Field(min_length=1, max_length=50, examples=["us-east"])
    country: str = Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2", examples=["US"])

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class LocationOut(BaseModel):
    id: str
    code: str
    name: str
    region: str
    country: str


class StockSet(Strict):
    on_hand: int = Field(ge=0, le=MAX_UNITS, description="Counted units now physically at the location")
    safety_stock: int | None = Field(None, ge=0, le=MAX_UNITS, description="Omit to keep the current value")
    # Reserve/release/expire are the system's own movements; people record only these.
    reason: Literal["count", "receipt", "correction", "damage", "loss", "return"]
    reference: str | None = Field(None, max_length=100, description="e.g. a purchase order or count sheet")


class StockOut(BaseModel):
    sku: str
    location_code: str
    on_hand: int
    reserved: int
    safety_stock: int
    inbound_transfers: int
    outbound_transfers: int
    atp: int


class LedgerEntryOut(BaseModel):
    location_code: str | None
    delta_on_hand: int
    delta_reserved: int
    delta_inbound_transfers: int
    delta_outbound_transfers: int
    reason: str
    reference: str | None
    note: str | None
    created_at: datetime


@router.post("/locations", status_code=status.HTTP_201_CREATED, response_model=LocationOut, responses=_ERRORS)
async def create_location(body: LocationIn, services: Services, caller: CurrentCaller) -> LocationOut:
    location = await inventory.create_location(services, inventory.CreateLocation(caller=caller, **body.model_dump()))
    return LocationOut(**location)


@router.get("/locations", response_model=list[LocationOut])
async def list_locations(conn: ReadConn) -> list[LocationOut]:
    return [LocationOut.model_validate(row) for row in await inventory_admin.list_locations(conn)]


@router.put("/{sku}/locations/{location_code}", response_model=StockOut, responses=_ERRORS)
async def set_stock(sku: str, location_code: str, body: StockSet, services: Services,
                    caller: CurrentCaller) -> StockOut:
    """Record a stock count or receipt; the difference goes to the ledger."""
    level = await inventory.set_stock(services, inventory.SetStock(
        sku=sku, location_code=location_code, on_hand=body.on_hand, safety_stock=body.safety_stock,
        reason=body.reason, reference=body.reference, caller=caller, audit_details=body.model_dump(mode="json")))
    return StockOut(sku=sku, location_code=location_code, on_hand=level.on_hand, reserved=level.reserved,
                    safety_stock=level.safety_stock, inbound_transfers=level.inbound_transfers,
                    outbound_transfers=level.outbound_transfers, atp=level.atp)


@router.get("/{sku}/ledger", response_model=list[LedgerEntryOut], responses={404: {"model": ErrorResponse}})
async def ledger(sku: str, conn: ReadConn,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[LedgerEntryOut]:
    """The SKU's stock movements, newest first."""
    await variant_id_of(conn, sku)
    return [LedgerEntryOut.model_validate(row) for row in await inventory_admin.ledger_entries(conn, sku, limit)]
