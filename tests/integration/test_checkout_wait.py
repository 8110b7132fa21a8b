"""POST /checkouts with `Prefer: wait=N`: the outcome in the answer when it comes in time, else 202 as before."""

import pytest

from services.checkout_wait import MAX_WAIT_SECONDS, preferred_wait
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import cart_headers, cart_with, checkout_body, start_checkout

# Generous: a checkout here takes well under a second; the wait is a bound, not a pace.
WAIT = "wait=25"


async def _cart(api, engine, *, quantity=1, on_hand=5) -> str:
    sku = await make_sku(engine, price=2500, stock={await make_location(engine): on_hand})
    return await cart_with(api, {sku: quantity})


async def _post(api, body: dict, prefer: str | None):
    headers = {"Idempotency-Key": f"wait-{body['cart_id']}", **cart_headers(body["cart_id"])}
    if prefer:
        headers["Prefer"] = prefer
    return await api.post("/checkouts", json=body, headers=headers)


async def test_waiting_answers_200_with_the_order(api, engine):
    answer = await _post(api, checkout_body(await _cart(api, engine)), WAIT)

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "completed" and answer.json()["order_id"]
    assert answer.headers["Preference-Applied"] == "wait=25"


async def test_waiting_answers_200_with_a_failure(api, engine):
    answer = await _post(api, checkout_body(await _cart(api, engine, quantity=3, on_hand=1)), WAIT)

    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["error"]["code"]) == ("failed", "out_of_stock")


async def test_a_checkout_still_running_after_the_wait_answers_202(api, engine):
    """3-D Secure waits for the card holder: a one-second wait ends with the usual pending answer."""
    body = checkout_body(await _cart(api, engine), payment_method="pm_card_authenticationRequired")
    answer = await _post(api, body, "wait=1")

    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "pending"


async def test_without_the_header_nothing_changes(api, engine):
    answer = await start_checkout(api, checkout_body(await _cart(api, engine)))

    assert answer.status_code == 202 and answer.json()["status"] == "pending"
    assert "Preference-Applied" not in answer.headers


@pytest.mark.parametrize(("header", "seconds"), [
    ("wait=10", 10.0), ("respond-async, wait=2.5", 2.5), ('wait="4"', 4.0), ("WAIT=3", 3.0),
    ("wait=100000", MAX_WAIT_SECONDS), ("wait=abc", 0.0), ("wait=-1", 0.0), ("handling=strict", 0.0),
    ("nowait=5", 0.0), (None, 0.0),
])
def test_the_prefer_header_is_read_strictly_and_capped(header, seconds):
    assert preferred_wait(header) == seconds
