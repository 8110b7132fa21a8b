"""Order reads: state, lines, totals and the event log."""

from fastapi import APIRouter

from api.deps import ReadConn
from api.schemas import ErrorResponse, OrderEventOut, OrderLineOut, OrderOut, OrderPromotionOut, ShipmentOut, Totals
from db import fulfillment
from db import orders as store
from db import promotions as promotion_store

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
        shipments=[_shipment_out(s) for s in await fulfillment.shipments_view(conn, order_id)],
        promotions=[OrderPromotionOut.model_validate(p)
                    for p in await promotion_store.order_promotions_of(conn, order_id)],
        created_at=order["created_at"].isoformat(),
    )


def _shipment_out(row: dict) -> ShipmentOut:
    return ShipmentOut(
        id=row["id"], status=row["status"], location_id=row["location_id"], carrier=row["carrier"],
        service=row["service"], tracking_code=row["tracking_code"], captured=row["capture_amount"],
        alert=row["alert"], items=row["items"],
        shipped_at=row["shipped_at"].isoformat() if row["shipped_at"] else None,
        delivered_at=row["delivered_at"].isoformat() if row["delivered_at"] else None,
    )
