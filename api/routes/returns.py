"""Returns (RMA): customers request, support decides, the warehouse receives and inspects
(handlers: services/returns.py)."""

from fastapi import APIRouter, status
from pydantic import BaseModel

from api.auth import CurrentCaller
from api.deps import IdempotencyKey, ReadConn, Services
from api.schemas import ErrorResponse
from db import fulfillment as fulfillment_store
from db import returns as store
from models.returns import Decision, Inspection, ReturnRequest
from services import returns

router = APIRouter(tags=["returns"])


class ReturnOut(BaseModel):
    id: str
    order_id: str
    status: str
    exchange: bool
    lines: list[dict]
    label: dict | None
    inspection: list[dict] | None
    refund_id: str | None
    replacement_order_id: str | None
    note: str | None


def _out(row) -> ReturnOut:
    return ReturnOut(id=row.id, order_id=row.order_id, status=row.status, exchange=row.exchange, lines=row.lines,
                     label=row.label, inspection=row.inspection, refund_id=row.refund_id,
                     replacement_order_id=row.replacement_order_id, note=row.note)


@router.post("/orders/{order_id}/returns", status_code=status.HTTP_201_CREATED, response_model=ReturnOut,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse},
                        422: {"model": ErrorResponse}})
async def request_return(order_id: str, body: ReturnRequest, services: Services,
                         idempotency_key: IdempotencyKey = None) -> ReturnOut:
    """Ask to send delivered units back (within the return window), for a refund or an exchange; a line's
    ``exchange_sku`` swaps to another variant of the same product, its price difference charged or refunded."""
    return _out(await returns.create_return(services, returns.CreateReturn(order_id=order_id, request=body,
                                                                           idempotency_key=idempotency_key)))


@router.get("/returns/{rma_id}", response_model=ReturnOut, responses={404: {"model": ErrorResponse}})
async def get_return(rma_id: str, conn: ReadConn) -> ReturnOut:
    return _out(await store.get(conn, rma_id))


@router.get("/orders/{order_id}/returns", response_model=list[ReturnOut])
async def list_returns(order_id: str, conn: ReadConn) -> list[ReturnOut]:
    await fulfillment_store.order_row(conn, order_id)
    return [_out(row) for row in await store.for_order(conn, order_id)]


@router.post("/returns/{rma_id}/approve", response_model=ReturnOut,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def approve_return(rma_id: str, body: Decision, services: Services, caller: CurrentCaller) -> ReturnOut:
    return await _decide(services, caller, rma_id, "approve", body)


@router.post("/returns/{rma_id}/reject", response_model=ReturnOut,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def reject_return(rma_id: str, body: Decision, services: Services, caller: CurrentCaller) -> ReturnOut:
    return await _decide(services, caller, rma_id, "reject", body)


async def _decide(services, caller, rma_id: str, decision, body: Decision) -> ReturnOut:
    body = body.model_copy(update={"actor": caller.label})
    return _out(await returns.decide_return(services, returns.DecideReturn(rma_id=rma_id, decision=decision,
                                                                           body=body, caller=caller)))


@router.post("/returns/{rma_id}/receive", response_model=ReturnOut,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def receive_return(rma_id: str, services: Services, caller: CurrentCaller) -> ReturnOut:
    """The warehouse has the parcel (when carrier tracking did not already say so)."""
    return _out(await returns.receive_return(services, returns.ReceiveReturn(rma_id=rma_id, caller=caller)))


@router.post("/returns/{rma_id}/inspect", response_model=ReturnOut,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})
async def inspect_return(rma_id: str, body: Inspection, services: Services, caller: CurrentCaller) -> ReturnOut:
    """Per-unit disposition: resell (restocked at location_code), refurbish or scrap."""
    return _out(await returns.inspect_return(services, returns.InspectReturn(rma_id=rma_id, inspection=body,
                                                                             caller=caller)))
