"""GET /orders: support and ops find a customer's orders, or the orders in a state, page by page."""

import pytest

from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import cart_with, checkout_to_end, eventually


@pytest.fixture(scope="module")
async def placed(api, temporal_env, engine) -> dict[str, list[str]]:
    """Three orders for Grace (the email in mixed case), one for Alan; Grace's newest is cancelled."""
    sku = await make_sku(engine, stock={await make_location(engine): 50})
    ids: dict[str, list[str]] = {"grace": [], "alan": []}
    for who, email in (("grace", "grace@example.com"), ("alan", "alan@example.com"),
                       ("grace", "Grace@Example.com"), ("grace", "grace@example.com")):
        done = await checkout_to_end(api, temporal_env.client, await cart_with(api, {sku: 1}), email=email)
        assert done["status"] == "completed", done
        ids[who].append(done["order_id"])

    async def cancelled():
        response = await api.post(f"/orders/{ids['grace'][-1]}/cancel", json={"reason": "duplicate order"})
        return None if response.json().get("error", {}).get("code") == "order_not_ready" else response

    response = await eventually(cancelled)
    assert response.status_code == 200, response.text
    return ids


async def test_a_customers_orders_newest_first_whatever_the_case_of_the_email(api_as, placed):
    found = await api_as("support").get("/orders", params={"email": "GRACE@example.COM"})
    assert found.status_code == 200, found.text
    body = found.json()
    assert [o["id"] for o in body["orders"]] == placed["grace"][::-1]
    assert body["next_after"] is None
    assert {o["currency"] for o in body["orders"]} == {"USD"} and all(o["total"] > 0 for o in body["orders"])


async def test_pages_follow_next_after_without_gaps_or_repeats(api_as, placed):
    support, seen, after = api_as("support"), [], None
    while True:
        params = {"email": "grace@example.com", "limit": 2} | ({"after": after} if after else {})
        body = (await support.get("/orders", params=params)).json()
        seen += [o["id"] for o in body["orders"]]
        if (after := body["next_after"]) is None:
            break
    assert seen == placed["grace"][::-1]


async def test_filter_by_state_and_combine_with_the_customer(api_as, placed):
    support = api_as("support")
    cancelled = (await support.get("/orders", params={"status": "cancelled"})).json()["orders"]
    assert [(o["id"], o["status"]) for o in cancelled] == [(placed["grace"][-1], "cancelled")]
    alans_cancelled = (await support.get("/orders", params={"status": "cancelled", "email": "alan@example.com"}))
    assert alans_cancelled.json() == {"orders": [], "next_after": None}
    everything = (await support.get("/orders", params={"limit": 100})).json()["orders"]
    assert {o["id"] for o in everything} == set(placed["grace"] + placed["alan"])


@pytest.mark.parametrize(("params", "code"), [
    ({"status": "shipped_to_mars"}, "validation_error"),
    ({"limit": 0}, "validation_error"),
    ({"limit": 101}, "validation_error"),
    ({"email": "x" * 321}, "validation_error"),
    ({"after": "ord_doesnotexist"}, "invalid_cursor"),
])
async def test_bad_queries_are_422_with_a_code(api_as, placed, params, code):
    response = await api_as("support").get("/orders", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


async def test_a_storefront_key_cannot_list_other_customers_orders(api_as, placed):
    response = await api_as("storefront").get("/orders", params={"email": "grace@example.com"})
    assert response.status_code == 403
