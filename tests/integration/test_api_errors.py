"""Client mistakes get a clear 4xx with a machine-readable code, never a 500, and write nothing."""

import pytest
from sqlalchemy import func, select

from db.tables import cart_lines, checkouts
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import cart_with, checkout_body, checkout_to_end, start_checkout


@pytest.fixture(scope="module")
async def sku(engine):
    return await make_sku(engine, price=1500, stock={await make_location(engine): 50})


def error_code(response) -> str:
    return response.json()["error"]["code"]


async def test_malformed_json_is_400(api):
    response = await api.post("/carts", content=b'{"currency": "USD"', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert error_code(response) == "malformed_json"


@pytest.mark.parametrize("quantity", [0, -1, 1000, 10**12, "three", 1.5, None])
async def test_bad_quantities_are_rejected(api, sku, quantity):
    cart_id = (await api.post("/carts", json={})).json()["id"]
    response = await api.post(f"/carts/{cart_id}/lines", json={"sku": sku, "quantity": quantity})
    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert response.json()["error"]["details"][0]["loc"][-1] == "quantity"


async def test_unknown_sku_is_404(api):
    cart_id = (await api.post("/carts", json={})).json()["id"]
    response = await api.post(f"/carts/{cart_id}/lines", json={"sku": "NOPE-123", "quantity": 1})
    assert response.status_code == 404
    assert error_code(response) == "unknown_sku"
    assert (await api.get(f"/carts/{cart_id}")).json()["lines"] == []


async def test_merging_lines_past_the_limit_is_refused_and_keeps_the_line(api, sku, engine):
    cart_id = await cart_with(api, {sku: 600})
    response = await api.post(f"/carts/{cart_id}/lines", json={"sku": sku, "quantity": 500})
    assert response.status_code == 422
    assert error_code(response) == "quantity_too_large"
    assert (await api.get(f"/carts/{cart_id}")).json()["lines"][0]["quantity"] == 600


async def test_unknown_cart_and_line(api, sku):
    assert error_code(await api.get("/carts/cart_missing")) == "cart_not_found"
    assert (await api.post("/carts/cart_missing/lines", json={"sku": sku, "quantity": 1})).status_code == 404
    cart_id = await cart_with(api, {sku: 1})
    missing_line = await api.patch(f"/carts/{cart_id}/lines/cl_missing", json={"quantity": 2})
    assert missing_line.status_code == 404 and error_code(missing_line) == "cart_line_not_found"


async def test_unsupported_currency(api):
    response = await api.post("/carts", json={"currency": "ZZZ"})
    assert response.status_code == 422
    assert error_code(response) == "unsupported_currency"


async def test_cart_without_a_price_in_its_currency(api, sku):
    cart_id = (await api.post("/carts", json={"currency": "EUR"})).json()["id"]
    response = await api.post(f"/carts/{cart_id}/lines", json={"sku": sku, "quantity": 1})
    assert response.status_code == 422
    assert error_code(response) == "price_not_found"


async def test_cart_lines_update_and_remove(api, sku):
    cart_id = await cart_with(api, {sku: 1})
    line_id = (await api.get(f"/carts/{cart_id}")).json()["lines"][0]["id"]
    updated = await api.patch(f"/carts/{cart_id}/lines/{line_id}", json={"quantity": 4})
    assert updated.status_code == 200
    assert updated.json()["subtotal"] == 4 * 1500
    removed = await api.delete(f"/carts/{cart_id}/lines/{line_id}")
    assert removed.status_code == 200 and removed.json()["lines"] == []


async def test_checked_out_cart_cannot_change_or_check_out_again(api, temporal_env, sku):
    cart_id = await cart_with(api, {sku: 1})
    assert (await checkout_to_end(api, temporal_env.client, cart_id))["status"] == "completed"

    change = await api.post(f"/carts/{cart_id}/lines", json={"sku": sku, "quantity": 1})
    assert change.status_code == 409 and error_code(change) == "cart_checked_out"
    again = await start_checkout(api, checkout_body(cart_id))
    assert again.status_code == 409 and error_code(again) == "cart_checked_out"


async def test_empty_cart_checkout_is_refused_without_a_record(api, engine):
    cart_id = (await api.post("/carts", json={})).json()["id"]
    response = await start_checkout(api, checkout_body(cart_id), key="empty-cart-key")
    assert response.status_code == 422 and error_code(response) == "cart_empty"
    async with engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(checkouts)
                                    .where(checkouts.c.idempotency_key == "empty-cart-key"))).scalar_one()
    assert count == 0, "a refused checkout leaves no idempotency record, so the key can be retried"


@pytest.mark.parametrize(
    "patch,field",
    [
        ({"email": "not-an-email"}, "email"),
        ({"shipping_address": {"line1": "x"}}, "name"),
        ({"shipping_speed": "teleport"}, "shipping_speed"),
        ({"payment_method": ""}, "payment_method"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
async def test_checkout_body_validation(api, sku, patch, field):
    cart_id = await cart_with(api, {sku: 1})
    response = await start_checkout(api, {**checkout_body(cart_id), **patch})
    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert any(d["loc"][-1] == field for d in response.json()["error"]["details"])


async def test_unknown_payment_method_fails_the_checkout_cleanly(api, temporal_env, sku, engine):
    cart_id = await cart_with(api, {sku: 2})
    result = await checkout_to_end(api, temporal_env.client, cart_id, payment_method="cash-on-delivery")
    assert result["status"] == "failed" and result["error"]["code"] == "invalid_payment_method"
    async with engine.connect() as conn:
        lines = (await conn.execute(select(func.count()).select_from(cart_lines)
                                    .where(cart_lines.c.cart_id == cart_id))).scalar_one()
    assert lines == 1


async def test_unknown_routes_and_ids(api):
    assert error_code(await api.get("/orders/ord_nothere")) == "order_not_found"
    assert error_code(await api.get("/checkouts/chk_nothere")) == "checkout_not_found"
    assert error_code(await api.get("/inventory/NOPE")) == "unknown_sku"
    missing = await api.get("/no/such/route")
    assert missing.status_code == 404 and error_code(missing) == "not_found"
    wrong_method = await api.put("/carts")
    assert wrong_method.status_code == 405 and error_code(wrong_method) == "method_not_allowed"
