"""Stock transfers between locations, for ops: request, ship, receive, cancel (rules in db/transfers.py).

Locations are named by code, as in the other admin inventory routes. Every successful step is
audited, a repeated one too (``details.changed`` false: it answered the current state).
"""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel, Field

from api.auth import CurrentCaller
from api.deps import Engine, ReadConn
from api.routes.admin_inventory import MAX_UNITS
from api.schemas import ErrorResponse, Strict
from db import audit, inventory
from db import transfers as store
from models.auth import Caller
from models.ids import public_id
from models.transfers import Transfer, TransferStatus

router = APIRouter(prefix="/admin/inventory/transfers", tags=["admin"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
# Transfer ids derive from the Idempotency-Key: a retry finds the transfer it created.
ID_NAMESPACE = uuid.UUID("0b7e6c52-93d4-4f0a-a1c8-6e2d5f4b9a30")
_ERRORS = {404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


class TransferIn(Strict):
    sku: str = Field(min_length=1, max_length=64)
    from_location: str = Field(min_length=1, max_length=50, description="Code of the location the units leave",
                               examples=["us-east"])
    to_location: str = Field(min_length=1, max_length=50, description="Code of the location they go to",
                             examples=["us-west"])
    quantity: int = Field(ge=1, le=MAX_UNITS)
    reference: str | None = Field(None, max_length=100, description="e.g. a transfer order number")


class TransferStep(Strict):
    reason: str = Field("", max_length=500, description="Why, for the audit log")


class TransferReceipt(TransferStep):
    received_quantity: int | None = Field(
        None, ge=0, le=MAX_UNITS, description="Units that arrived; omit when all did. The rest is recorded as lost.")


class TransferOut(BaseModel):
    id: str
    sku: str
    from_location: str
    to_location: str
    quantity: int
    received_quantity: int | None
    status: TransferStatus
    reference: str | None
    created_at: datetime
    shipped_at: datetime | None
    received_at: datetime | None
    cancelled_at: datetime | None


def _out(transfer: Transfer) -> TransferOut:
    return TransferOut(
        id=transfer.id, sku=transfer.sku, from_location=transfer.from_location_code,
        to_location=transfer.to_location_code, quantity=transfer.quantity,
        received_quantity=transfer.received_quantity, status=transfer.status, reference=transfer.reference,
        created_at=transfer.created_at, shipped_at=transfer.shipped_at, received_at=transfer.received_at,
        cancelled_at=transfer.cancelled_at,
    )


async def _audit(conn, caller: Caller, action: str, transfer: Transfer, *, changed: bool, reason: str = "",
                 **details) -> None:
    await audit.record(conn, caller, f"inventory.transfer_{action}", target=transfer.id, reason=reason, details={
        "sku": transfer.sku, "from_location": transfer.from_location_code, "to_location": transfer.to_location_code,
        "quantity": transfer.quantity, "status": transfer.status.value, "changed": changed, **details,
    })


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TransferOut, responses=_ERRORS)
async def request_transfer(body: TransferIn, engine: Engine, caller: CurrentCaller, response: Response,
                           idempotency_key: IdempotencyKey = None) -> TransferOut:
    """Commit units of the origin's ATP to move: refused (409 ``insufficient_stock``) beyond it.

    With an ``Idempotency-Key`` a retried request answers the transfer it created (200,
    ``Idempotent-Replayed: true``) instead of moving the units twice."""
    transfer_id = public_id("transfer", uuid.uuid5(ID_NAMESPACE, idempotency_key)) if idempotency_key else None
    async with engine.begin() as conn:
        origin = await inventory.location_id_by_code(conn, body.from_location)
        destination = await inventory.location_id_by_code(conn, body.to_location)
        transfer, created = await store.request(conn, sku=body.sku, from_location_id=origin,
                                                to_location_id=destination, quantity=body.quantity,
                                                reference=body.reference, transfer_id=transfer_id)
        await _audit(conn, caller, "requested", transfer, changed=created, reference=body.reference)
    if not created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return _out(transfer)


@router.get("", response_model=list[TransferOut], responses={422: {"model": ErrorResponse}})
async def list_transfers(
    conn: ReadConn,
    status_: Annotated[TransferStatus | None, Query(alias="status")] = None,
    sku: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[TransferOut]:
    """Transfers, newest first."""
    return [_out(t) for t in await store.list_transfers(conn, status=status_, sku=sku, limit=limit)]


@router.get("/{transfer_id}", response_model=TransferOut, responses={404: {"model": ErrorResponse}})
async def get_transfer(transfer_id: str, conn: ReadConn) -> TransferOut:
    return _out(await store.get(conn, transfer_id))


@router.post("/{transfer_id}/ship", response_model=TransferOut, responses=_ERRORS)
async def ship_transfer(transfer_id: str, engine: Engine, caller: CurrentCaller,
                        body: TransferStep | None = None) -> TransferOut:
    """The units left the origin; they now count toward the destination's ATP."""
    return await _step(engine, caller, transfer_id, store.ship, "shipped", body)


@router.post("/{transfer_id}/receive", response_model=TransferOut, responses=_ERRORS)
async def receive_transfer(transfer_id: str, engine: Engine, caller: CurrentCaller,
                           body: TransferReceipt | None = None) -> TransferOut:
    """The units arrived and are on the destination's shelf (a shortfall is recorded as loss)."""
    body = body or TransferReceipt()
    async with engine.begin() as conn:
        transfer, changed = await store.receive(conn, transfer_id, body.received_quantity)
        await _audit(conn, caller, "received", transfer, changed=changed, reason=body.reason,
                     received_quantity=transfer.received_quantity)
    return _out(transfer)


@router.post("/{transfer_id}/cancel", response_model=TransferOut, responses=_ERRORS)
async def cancel_transfer(transfer_id: str, engine: Engine, caller: CurrentCaller,
                          body: TransferStep | None = None) -> TransferOut:
    """Call off a transfer that has not shipped; the origin's units become promisable again."""
    return await _step(engine, caller, transfer_id, store.cancel, "cancelled", body)


async def _step(engine, caller: Caller, transfer_id: str, step, action: str, body: TransferStep | None) -> TransferOut:
    async with engine.begin() as conn:
        transfer, changed = await step(conn, transfer_id)
        await _audit(conn, caller, action, transfer, changed=changed, reason=body.reason if body else "")
    return _out(transfer)
