"""GET /orders/{id}/invoice.pdf over HTTP, for a real order whose payment is captured in our ledger."""

import io
import uuid

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from db import payments
from db.tables import orders
from models.money import Money
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import cart_with, checkout_to_end


@pytest.fixture(scope="module")
async def warehouse(engine):
    return await make_location(engine)


async def placed_order(api, temporal_env, engine, warehouse) -> dict:
    first = await make_sku(engine, price=2500, stock={warehouse: 10}, weight_grams=300)
    second = await make_sku(engine, price=1999, stock={warehouse: 10}, weight_grams=100)
    result = await checkout_to_end(api, temporal_env.client, await cart_with(api, {first: 2, second: 1}))
    assert result["status"] == "completed", result
    return (await api.get(f"/orders/{result['order_id']}")).json()


async def record_capture(engine, order_id: str, amount: int, *, status: str = "succeeded") -> None:
    async with engine.begin() as conn:
        ref = (await conn.execute(select(orders.c.payment_ref).where(orders.c.id == order_id))).scalar_one()
        key = f"capture-{uuid.uuid4().hex[:8]}"
        await payments.begin(conn, idempotency_key=key, req_hash=payments.request_hash(kind="capture", amount=amount),
                             payment_ref=ref, kind="capture", provider="local", amount=amount, currency="USD")
        if status != "pending":
            await payments.complete(conn, key, status=status, provider_ref="lpi_test")


def usd(amount: int) -> str:
    return str(Money(amount=amount, currency="USD"))


async def test_invoice_lists_the_order_exactly_once_captured(api, temporal_env, engine, warehouse):
    order = await placed_order(api, temporal_env, engine, warehouse)
    await record_capture(engine, order["id"], order["totals"]["total"])

    response = await api.get(f"/orders/{order['id']}/invoice.pdf")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    totals = order["totals"]
    assert f"Total {usd(totals['total'])}" in text
    for label, key in (("Subtotal", "subtotal"), ("Tax", "tax"), ("Shipping", "shipping")):
        assert f"{label} {usd(totals[key])}" in text
    for line in order["lines"]:
        assert line["sku"] in text
        assert (f"{line['quantity']} {usd(line['unit_price'])} {usd(-line['discount'])} {usd(line['tax'])} "
                f"{usd(line['line_total'])}") in text
    assert order["id"] in text and "ada@example.com" in text and "Ada Lovelace" in text


async def test_no_invoice_until_a_capture_succeeds(api, temporal_env, engine, warehouse):
    order = await placed_order(api, temporal_env, engine, warehouse)
    await record_capture(engine, order["id"], 100, status="failed")
    await record_capture(engine, order["id"], 100, status="pending")

    response = await api.get(f"/orders/{order['id']}/invoice.pdf")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invoice_not_available"


async def test_unknown_order_is_404(api):
    response = await api.get("/orders/ord_doesnotexist/invoice.pdf")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "order_not_found"
