"""Order reads: state, lines, totals and the event log."""

from fastapi import APIRouter

from api.deps import ReadConn
from api.schemas import (
    CustomerEmail, ErrorResponse, OrderEventOut, OrderLineOut, OrderOut, OrderPage, OrderPromotionOut,
    OrderSummaryOut, PageAfter, PageSize, ShipmentOut, Totals,
)
from db import fulfillment
from db import orders as store
from db import promotions as promotion_store
from models.fulfillment import line_deliveries
from models.order_state import OrderStatus

router = APIRouter(prefix="/orders", tags=["orders"])


@router.get("", response_model=OrderPage, responses={422: {"model": ErrorResponse}})
async def search_orders(
    conn: ReadConn,
    email: CustomerEmail = None,
    status: OrderStatus | None = None,
    limit: PageSize = 20,
    after: PageAfter = None,
) -> OrderPage:
    """Orders newest first, by customer and/or state (support and ops: any customer's orders)."""
    page, next_after = await store.search(conn, email=email, status=status, limit=limit, after=after)
    return OrderPage(orders=[OrderSummaryOut(**row | {"created_at": row["created_at"].isoformat()}) for row in page],
                     next_after=next_after)


@router.get("/{order_id}", response_model=OrderOut, responses={404: {"model": ErrorResponse}})
async def get_order(order_id: str, conn: ReadConn) -> OrderOut:
    found = await store.get_order(conn, order_id)
    order = found["order"]
    shipments = await fulfillment.shipments_view(conn, order_id)
    return OrderOut(
        id=order["id"], status=order["status"], email=order["email"], currency=order["currency"],
        totals=Totals(subtotal=order["subtotal"], discount=order["discount_total"], tax=order["tax_total"],
                      shipping=order["shipping_total"], total=order["total"]),
        lines=_lines_out(found["lines"], line_deliveries(shipments)),
        shipping_address=order["shipping_address"], shipping_method=order["shipping_method"],
        events=[
            OrderEventOut(event_id=e["event_id"], type=e["type"], from_status=e["from_status"],
                          to_status=e["to_status"], data=e["data"], created_at=e["created_at"].isoformat())
            for e in found["events"]
        ],
        shipments=[_shipment_out(s) for s in shipments],
        promotions=[OrderPromotionOut.model_validate(p)
                    for p in await promotion_store.order_promotions_of(conn, order_id)],
        created_at=order["created_at"].isoformat(),
    )


def _lines_out(lines: list[dict], delivered: dict) -> list[OrderLineOut]:
    out = []
    for line in lines:
        units, last = delivered.get(line["sku"], (0, None))
        done = units >= line["quantity"] and last is not None
        out.append(OrderLineOut(sku=line["sku"], title=line["title"], quantity=line["quantity"],
                                unit_price=line["unit_price"], discount=line["discount"], tax=line["tax"],
                                line_total=line["line_total"], delivered_quantity=min(units, line["quantity"]),
                                delivered_at=last.isoformat() if done else None))
    return out


def _shipment_out(row: dict) -> ShipmentOut:
    return ShipmentOut(
        id=row["id"], status=row["status"], location_id=row["location_id"], carrier=row["carrier"],
        service=row["service"], tracking_code=row["tracking_code"], captured=row["captured"],
        alert=row["alert"], items=row["items"],
        shipped_at=row["shipped_at"].isoformat() if row["shipped_at"] else None,
        delivered_at=row["delivered_at"].isoformat() if row["delivered_at"] else None,
    )
