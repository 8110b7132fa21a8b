"""Order reads: state, lines, totals and the event log."""

from fastapi import APIRouter

from api.deps import ReadConn
from api.schemas import ErrorResponse, OrderEventOut, OrderLineOut, OrderOut, Totals
from db import orders as store

router = APIRouter(prefix="/orders", tags=["orders"])


@router.get("/{order_id}", response_model=OrderOut, responses={404: {"model": ErrorResponse}})
async def get_order(order_id: str, conn: ReadConn) -> OrderOut:
    found = await store.get_order(conn, order_id)
    order = found["order"]
    return OrderOut(
        id=order["id"], status=order["status"], email=order["email"], currency=order["currency"],
        totals=Totals(subtotal=order["subtotal"], discount=order["discount_total"], tax=order["tax_total"],
                      shipping=order["shipping_total"], total=order["total"]),
        lines=[OrderLineOut(**{k: line[k] for k in OrderLineOut.model_fields}) for line in found["lines"]],
        shipping_address=order["shipping_address"], shipping_method=order["shipping_method"],
        events=[
            OrderEventOut(event_id=e["event_id"], type=e["type"], from_status=e["from_status"],
                          to_status=e["to_status"], data=e["data"], created_at=e["created_at"].isoformat())
            for e in found["events"]
        ],
        created_at=order["created_at"].isoformat(),
    )
