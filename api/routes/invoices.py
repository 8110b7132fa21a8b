"""Invoice PDF of an order, available once its payment has been captured."""

import asyncio

from fastapi import APIRouter, Response

from api.deps import AppSettings, ReadConn
from api.schemas import ErrorResponse
from db import invoices
from adapters.invoice_pdf import render_invoice

router = APIRouter(prefix="/orders", tags=["orders"])


@router.get(
    "/{order_id}/invoice.pdf", response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The invoice"},
               404: {"model": ErrorResponse}, 409: {"model": ErrorResponse, "description": "Nothing captured yet"}},
)
async def invoice_pdf(order_id: str, conn: ReadConn, settings: AppSettings) -> Response:
    data = await invoices.invoice_data(conn, order_id, seller_name=settings.seller_name,
                                       seller_address=settings.seller_address)
    pdf = await asyncio.to_thread(render_invoice, data)  # tens of ms of CPU: keep the event loop free
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="invoice-{order_id}.pdf"'})
