"""Support actions on an order: cancel (before shipment) and refunds, answered by workflow updates."""

import uuid
from typing import Annotated

import structlog
from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy

from api import updates
from api.auth import CurrentCaller
from api.deps import AppSettings, Engine, ReadConn, Temporal
from api.errors import ApiError
from api.schemas import ErrorResponse
from config import Settings
from db import audit
from db import fulfillment as fulfillment_store
from db import refunds as refund_store
from models.fulfillment import CancelRequest
from models.ids import public_id
from models.refunds import RefundCommand, RefundRequest, RefundResult
from workflows import search_attributes as sa
from workflows.fulfillment import FulfillmentWorkflow
from workflows.order_support import OrderSupportWorkflow, SupportInput

router = APIRouter(prefix="/orders", tags=["support"])
log = structlog.get_logger("orderflow.api.support")
ID_NAMESPACE = uuid.UUID("0b7e4a52-8d3f-4f0e-9c57-3a2e9f1d6b41")

# Business refusals from the workflows, by code: 422 for limits, 409 for state.
UNPROCESSABLE = {"refund_exceeds_captured", "refund_exceeds_quantity", "refund_line_not_on_order", "invalid_amount",
                 "invalid_lines"}


class CancelBody(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class CancelOut(BaseModel):
    order_id: str
    status: str


@router.post("/{order_id}/cancel", response_model=CancelOut,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def cancel_order(order_id: str, body: CancelBody, engine: Engine, temporal: Temporal,
                       caller: CurrentCaller) -> CancelOut:
    """Cancel before anything ships: voids the payment, releases stock, stops unshipped parcels."""
    async with engine.begin() as conn:  # the audit row commits only if the cancel went through
        status = await request_cancel(conn, temporal, order_id, body.reason)
        await audit.record(conn, caller, "order.cancel", order_id=order_id, reason=body.reason)
    return CancelOut(order_id=order_id, status=status)


async def request_cancel(conn: AsyncConnection, temporal: Client, order_id: str, reason: str) -> str:
    """Cancel through the order workflow (shared with the console): the new status, or an ApiError."""
    order = await fulfillment_store.order_row(conn, order_id)
    status = await updates.execute(
        temporal.get_workflow_handle(f"order-{order_id}"), FulfillmentWorkflow.cancel, CancelRequest(reason=reason),
        closed=lambda: ApiError(409, "order_not_cancellable", f"order {order_id} is {order.status} and can no "
                                "longer be cancelled", {"status": order.status}),
    )
    log.info("order cancelled", order_id=order_id, reason=reason)
    return status


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


@router.post("/{order_id}/refunds", response_model=RefundResult,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})
async def refund_order(order_id: str, body: RefundRequest, engine: Engine, temporal: Temporal,
                       settings: AppSettings, caller: CurrentCaller, response: Response,
                       idempotency_key: IdempotencyKey = None) -> RefundResult:
    """Refund all, an amount, or lines (+ shipping). Replaying the Idempotency-Key returns the same refund."""
    if not idempotency_key or not idempotency_key.strip():
        raise ApiError(400, "idempotency_key_required", "send an Idempotency-Key header (e.g. a UUID)")
    async with engine.begin() as conn:
        result, replayed = await issue_refund(conn, temporal, settings, order_id, body, idempotency_key,
                                              actor=caller.label)
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        else:
            await audit.record(conn, caller, "order.refund", order_id=order_id, target=result.refund_id,
                               amount=result.amount, currency=result.currency, reason=body.reason)
    return result


async def issue_refund(conn: AsyncConnection, temporal: Client, settings: Settings, order_id: str,
                       request: RefundRequest, idempotency_key: str, *,
                       actor: str | None = None) -> tuple[RefundResult, bool]:
    """Refund through the order's support workflow (shared with the console).

    Returns the result and whether it replays an earlier refund under the same key; refusals are ApiErrors.
    """
    order = await fulfillment_store.order_row(conn, order_id)  # 404 for unknown orders
    refund_id = public_id("refund", uuid.uuid5(ID_NAMESPACE, f"{order_id}:{idempotency_key}"))
    prior = await refund_store.get(conn, refund_id)
    command = RefundCommand(refund_id=refund_id, order_id=order_id, request=request, actor=actor)
    start = WithStartWorkflowOperation(
        OrderSupportWorkflow.run, SupportInput(order_id=order_id), id=f"support-{order_id}",
        task_queue=settings.task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=sa.of_order(order_id, order.email),
        static_summary=f"Support actions (refunds) on order {order_id}",
    )
    try:
        result = await temporal.execute_update_with_start_workflow(OrderSupportWorkflow.refund, command,
                                                                   start_workflow_operation=start)
    except WorkflowUpdateFailedError as error:
        raise updates.refusal(error, UNPROCESSABLE) from error
    log.info("refund issued", order_id=order_id, refund_id=refund_id, amount=result.amount)
    return result, prior is not None and prior.status == "succeeded"


@router.get("/{order_id}/refunds", response_model=list[RefundResult])
async def list_refunds(order_id: str, conn: ReadConn) -> list[RefundResult]:
    order = await fulfillment_store.order_row(conn, order_id)
    return [RefundResult(refund_id=r.id, order_id=order_id, amount=r.amount, currency=r.currency,
                      tax_refunded=r.tax_refunded, order_status=order.status)
            for r in await refund_store.for_order(conn, order_id) if r.status == "succeeded"]
