"""Order edits by support: quantities, a new SKU, a new address (handler: services/order_edits.py)."""

from fastapi import APIRouter, Response

from api.auth import CurrentCaller
from api.deps import IdempotencyKey, Services
from api.schemas import ErrorResponse
from models.order_edits import OrderEditRequest, OrderEditResult
from services import order_edits
from services.errors import required_key

router = APIRouter(prefix="/orders", tags=["support"])


@router.post("/{order_id}/edits", response_model=OrderEditResult,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})
async def edit_order(order_id: str, body: OrderEditRequest, services: Services, caller: CurrentCaller,
                     response: Response, idempotency_key: IdempotencyKey = None) -> OrderEditResult:
    """Change quantities (0 removes a line; every line 0 cancels the order), add a SKU or move the parcels to a new
    address, until the parcels holding what changes are packed. Stock, totals, tax, shipping and the payment
    follow; replaying the Idempotency-Key returns the same edit."""
    result, replayed = await order_edits.edit_order(services, order_edits.EditOrder(
        order_id=order_id, request=body, idempotency_key=required_key(idempotency_key), caller=caller))
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return result
