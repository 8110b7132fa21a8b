"""Stock transfers between locations, for ops: request, ship, receive, cancel (rules in db/transfers.py).

Locations are named by code, as in the other admin inventory routes. Every successful step is
audited, a repeated one too (``details.changed`` false: it answered the current state). Handlers:
services/inventory.py.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from api.auth import CurrentCaller
from api.deps import IdempotencyKey, ReadConn, Services
from api.schemas import MAX_UNITS, ErrorResponse, Strict
from db import transfers as store
from models.transfers import Transfer, TransferStatus
from services import inventory

router = APIRouter(prefix="/admin/inventory/transfers", tags=["admin"])

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


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TransferOut, responses=_ERRORS)
async def request_transfer(body: TransferIn, services: Services, caller: CurrentCaller, response: Response,
                           idempotency_key: IdempotencyKey = None) -> TransferOut:
    """Commit units of the origin's ATP to move: refused (409 ``insufficient_stock``) beyond it.

    With an ``Idempotency-Key`` a retried request answers the transfer it created (200,
    ``Idempotent-Replayed: true``) instead of moving the units twice."""
    transfer, created = await inventory.request_transfer(services, inventory.RequestTransfer(
        caller=caller, idempotency_key=idempotency_key, **body.model_dump()))
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
async def ship_transfer(transfer_id: str, services: Services, caller: CurrentCaller,
                        body: TransferStep | None = None) -> TransferOut:
    """The units left the origin; they now count toward the destination's ATP."""
    return await _step(services, caller, transfer_id, "ship", body or TransferStep())


@router.post("/{transfer_id}/receive", response_model=TransferOut, responses=_ERRORS)
async def receive_transfer(transfer_id: str, services: Services, caller: CurrentCaller,
                           body: TransferReceipt | None = None) -> TransferOut:
    """The units arrived and are on the destination's shelf (a shortfall is recorded as loss)."""
    body = body or TransferReceipt()
    return await _step(services, caller, transfer_id, "receive", body, received_quantity=body.received_quantity)


@router.post("/{transfer_id}/cancel", response_model=TransferOut, responses=_ERRORS)
async def cancel_transfer(transfer_id: str, services: Services, caller: CurrentCaller,
                          body: TransferStep | None = None) -> TransferOut:
    """Call off a transfer that has not shipped; the origin's units become promisable again."""
    return await _step(services, caller, transfer_id, "cancel", body or TransferStep())


async def _step(services, caller, transfer_id: str, step: str, body: TransferStep, **extra) -> TransferOut:
    return _out(await inventory.step_transfer(services, inventory.TransferStep(
        transfer_id=transfer_id, step=step, caller=caller, reason=body.reason, **extra)))
