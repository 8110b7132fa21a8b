"""Support actions on an order: cancel (before shipment) and refunds (handlers: services/orders.py)."""

import structlog
from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.auth import CurrentCaller
from api.deps import IdempotencyKey, ReadConn, Services
from api.schemas import ErrorResponse
from db import fulfillment as fulfillment_store
from db import refunds as refund_store
from models.refunds import RefundRequest, RefundResult
from services import orders
from services.errors import required_key

router = APIRouter(prefix="/orders", tags=["support"])
log = structlog.get_logger("orderflow.api.support")


class CancelBody(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class CancelOut(BaseModel):
    order_id: str
    status: str


@router.post("/{order_id}/cancel", response_model=CancelOut,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def cancel_order(order_id: str, body: CancelBody, services: Services, caller: CurrentCaller) -> CancelOut:
    """Cancel before anything ships: voids the payment, releases stock, stops unshipped parcels."""
    status = await orders.cancel_order(services, orders.CancelOrder(order_id=order_id, reason=body.reason,
                                                                     caller=caller))
    return CancelOut(order_id=order_id, status=status)


@router.post("/{order_id}/refunds", response_model=RefundResult,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})
async def refund_order(order_id: str, body: RefundRequest, services: Services, caller: CurrentCaller,
                       response: Response, idempotency_key: IdempotencyKey = None) -> RefundResult:
    """Refund all, an amount, or lines (+ shipping). Replaying the Idempotency-Key returns the same refund."""
    result, replayed = await orders.issue_refund(services, orders.IssueRefund(
        order_id=order_id, request=body, idempotency_key=required_key(idempotency_key), caller=caller))
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return result


@router.get("/{order_id}/refunds", response_model=list[RefundResult])
async def list_refunds(order_id: str, conn: ReadConn) -> list[RefundResult]:
    order = await fulfillment_store.order_row(conn, order_id)
    return [RefundResult(refund_id=r.id, order_id=order_id, amount=r.amount, currency=r.currency,
                      tax_refunded=r.tax_refunded, order_status=order.status)
            for r in await refund_store.for_order(conn, order_id) if r.status == "succeeded"]
