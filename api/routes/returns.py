"""Returns (RMA): customers request, support decides, the warehouse receives and inspects."""

import uuid
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Header, status
from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from api import updates
from api.auth import Caller, CurrentCaller
from api.deps import AppSettings, Engine, ReadConn, Temporal
from api.errors import ApiError
from api.schemas import ErrorResponse
from db import audit
from db import fulfillment as fulfillment_store
from db import returns as store
from models.ids import public_id
from models.returns import Decision, Inspection, ReturnInput, ReturnPolicy, ReturnRequest, check_returnable
from workflows import search_attributes as sa
from workflows.returns import ReturnWorkflow

router = APIRouter(tags=["returns"])
log = structlog.get_logger("orderflow.api.returns")
ID_NAMESPACE = uuid.UUID("5d1f2c0e-7a4b-4c59-8e0d-2b6f3a9c4e17")
UNPROCESSABLE = {"inspection_mismatch", "location_required", "location_not_found"}


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


def policy(settings) -> ReturnPolicy:
    day = 24 * 3600
    return ReturnPolicy(window_days=settings.return_window_days,
                        approval_seconds=round(settings.return_approval_days * day),
                        ship_back_seconds=max(1, round(settings.return_ship_back_days * day)),
                        restocking_fee_bp=settings.restocking_fee_bp)


@router.post("/orders/{order_id}/returns", status_code=status.HTTP_201_CREATED, response_model=ReturnOut,
             responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})
async def request_return(order_id: str, body: ReturnRequest, engine: Engine, temporal: Temporal,
                         settings: AppSettings,
                         idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
                         ) -> ReturnOut:
    """Ask to send delivered units back (within the return window)."""
    rma_id = public_id("return", uuid.uuid5(ID_NAMESPACE, f"{order_id}:{idempotency_key}") if idempotency_key else None)
    async with engine.begin() as conn:
        order = await fulfillment_store.order_row(conn, order_id, lock=True)  # serialise returns of one order
        if idempotency_key and (existing := await store.find(conn, rma_id)) is not None:
            return _out(existing)
        delivered, last_delivery = await store.delivered(conn, order_id)
        check_returnable(body.lines, delivered, await store.returned(conn, order_id), last_delivery,
                         datetime.now(UTC), settings.return_window_days)
        await store.create(conn, rma_id=rma_id, order_id=order_id, lines=[line.model_dump() for line in body.lines],
                           exchange=body.exchange)
        await temporal.start_workflow(
            ReturnWorkflow.run, ReturnInput(rma_id=rma_id, order_id=order_id, lines=body.lines,
                                            exchange=body.exchange, policy=policy(settings)),
            id=f"return-{rma_id}", task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=sa.of_order(order_id, order.email),
            static_summary=f"Return {rma_id} of {sum(line.quantity for line in body.lines)} unit(s) "
                           f"from order {order_id}" + (" (exchange)" if body.exchange else ""),
            memo={"order_id": order_id, "lines": [line.model_dump() for line in body.lines], "exchange": body.exchange},
        )
        row = await store.get(conn, rma_id)
    log.info("return requested", order_id=order_id, rma_id=rma_id)
    return _out(row)


@router.get("/returns/{rma_id}", response_model=ReturnOut, responses={404: {"model": ErrorResponse}})
async def get_return(rma_id: str, conn: ReadConn) -> ReturnOut:
    return _out(await store.get(conn, rma_id))


@router.get("/orders/{order_id}/returns", response_model=list[ReturnOut])
async def list_returns(order_id: str, conn: ReadConn) -> list[ReturnOut]:
    await fulfillment_store.order_row(conn, order_id)
    return [_out(row) for row in await store.for_order(conn, order_id)]


async def _update(conn, temporal: Client, rma_id: str, update, *args) -> ReturnOut:
    row = await store.get(conn, rma_id)
    await updates.execute(temporal.get_workflow_handle(row.workflow_id), update, *args, unprocessable=UNPROCESSABLE,
                          closed=lambda: ApiError(409, "return_state_conflict", f"the return is {row.status}"))
    return _out(row)


async def decide_return(conn, temporal: Client, rma_id: str, decision: str, body: Decision) -> ReturnOut:
    """Approve or reject a requested return (shared with the console)."""
    update = ReturnWorkflow.approve if decision == "approve" else ReturnWorkflow.reject
    return await _update(conn, temporal, rma_id, update, body)


async def _audited(engine, caller: Caller, action: str, rma_id: str, run, reason: str = "") -> ReturnOut:
    async with engine.begin() as conn:  # the audit row commits only if the workflow took the action
        result = await run(conn)
        await audit.record(conn, caller, action, order_id=result.order_id, target=rma_id, reason=reason)
    return result


@router.post("/returns/{rma_id}/approve", response_model=ReturnOut,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def approve_return(rma_id: str, body: Decision, engine: Engine, temporal: Temporal,
                         caller: CurrentCaller) -> ReturnOut:
    body = body.model_copy(update={"actor": caller.label})
    return await _audited(engine, caller, "return.approve", rma_id,
                          lambda conn: decide_return(conn, temporal, rma_id, "approve", body), body.note or "")


@router.post("/returns/{rma_id}/reject", response_model=ReturnOut,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def reject_return(rma_id: str, body: Decision, engine: Engine, temporal: Temporal,
                        caller: CurrentCaller) -> ReturnOut:
    body = body.model_copy(update={"actor": caller.label})
    return await _audited(engine, caller, "return.reject", rma_id,
                          lambda conn: decide_return(conn, temporal, rma_id, "reject", body), body.note or "")


@router.post("/returns/{rma_id}/receive", response_model=ReturnOut,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def receive_return(rma_id: str, engine: Engine, temporal: Temporal, caller: CurrentCaller) -> ReturnOut:
    """The warehouse has the parcel (when carrier tracking did not already say so)."""
    return await _audited(engine, caller, "return.receive", rma_id,
                          lambda conn: _update(conn, temporal, rma_id, ReturnWorkflow.receive))


@router.post("/returns/{rma_id}/inspect", response_model=ReturnOut,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})
async def inspect_return(rma_id: str, body: Inspection, engine: Engine, temporal: Temporal,
                         caller: CurrentCaller) -> ReturnOut:
    """Per-unit disposition: resell (restocked at location_code), refurbish or scrap."""
    return await _audited(engine, caller, "return.inspect", rma_id,
                          lambda conn: _update(conn, temporal, rma_id, ReturnWorkflow.inspect, body), body.note or "")
