"""Checkout through HTTP against real PostgreSQL and a real Temporal dev server."""

from collections import Counter

import pytest
from temporalio.api.enums.v1 import EventType

from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import (
    atp, cart_with, checkout_body, checkout_to_end, finished_checkout, start_checkout,
)
from models import workflow_ids
from workflows import search_attributes as sa


@pytest.fixture(scope="module")
async def warehouse(engine):
    return await make_location(engine)


async def test_happy_path_creates_an_authorized_order(api, temporal_env, engine, warehouse):
    sku = await make_sku(engine, price=2500, stock={warehouse: 10}, weight_grams=300)
    cart_id = await cart_with(api, {sku: 2})

    result = await checkout_to_end(api, temporal_env.client, cart_id)

    assert result["status"] == "completed", result
    order = (await api.get(f"/orders/{result['order_id']}")).json()
    assert order["id"].startswith("ord_")
    assert order["status"] == "authorized"
    totals = order["totals"]
    assert totals["subtotal"] == 5000
    assert totals["tax"] == 363  # 7.25 % of 50.00 in California, rounded half up
    assert totals["shipping"] == 599  # 600 g: base 4.99 + 1.00 per extra started 500 g
    assert totals["total"] == 5000 + 363 + 599
    assert [e["type"] for e in order["events"]] == ["order.created", "payment.authorized"]
    assert order["lines"] == [{"sku": sku, "title": f"Item {sku}", "quantity": 2, "unit_price": 2500,
                               "discount": 0, "tax": 363, "line_total": 5000,
                               "delivered_quantity": 0, "delivered_at": None}]
    assert await atp(api, sku) == 8
    cart = (await api.get(f"/carts/{cart_id}")).json()
    assert cart["status"] == "checked_out"


async def test_a_checkout_costs_the_server_one_activity_task_and_two_workflow_tasks(
        api, temporal_env, engine, warehouse):
    """The prepared-checkout shape (issue 13): everything before the payment is ONE local activity
    (prepare_checkout: cart lock, pricing, both read-only quotes, fraud score, reservation) and the order insert
    another (markers, no server round trip), so only the payment is an activity task; the outcome carries the
    order total (one upsert), and create_order starts the order's fulfillment itself instead of a child
    workflow the checkout waits a workflow task for."""
    sku = await make_sku(engine, stock={warehouse: 2})
    result = await checkout_to_end(api, temporal_env.client, await cart_with(api, {sku: 1}))
    assert result["status"] == "completed", result

    history = await temporal_env.client.get_workflow_handle(workflow_ids.checkout(result["checkout_id"])).fetch_history()
    events = Counter(event.event_type for event in history.events)
    activities = [event.activity_task_scheduled_event_attributes.activity_type.name for event in history.events
                  if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert activities == ["authorize_payment"]
    assert events[EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED] == 2
    assert events[EventType.EVENT_TYPE_MARKER_RECORDED] == 1 + 2  # the patch; prepare_checkout, create_order
    assert events[EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED] == 0
    assert events[EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES] <= 2  # the patch's version, the outcome
    outcome = await temporal_env.client.get_workflow_handle(workflow_ids.checkout(result["checkout_id"])).describe()
    assert outcome.typed_search_attributes.get(sa.ORDER_TOTAL) is not None
    fulfillment = await temporal_env.client.get_workflow_handle(workflow_ids.order(result["order_id"])).describe()
    assert fulfillment.workflow_type == "FulfillmentWorkflow"
    assert fulfillment.typed_search_attributes.get(sa.ORDER_ID) == result["order_id"]
    # The shopper's checkout goes ahead of the order's routing, email and parcels when the server has a backlog.
    assert outcome.raw_description.workflow_execution_info.priority.priority_key == 2
    assert fulfillment.raw_description.workflow_execution_info.priority.priority_key in (0, 3)  # the default
    # ...but not its payment: on a rate-limited payments queue it would go ahead of every capture and refund.
    (payment,) = [event.activity_task_scheduled_event_attributes for event in history.events
                  if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert payment.priority.priority_key == 3


async def test_declined_card_fails_checkout_and_restores_stock(api, temporal_env, engine, warehouse):
    sku = await make_sku(engine, stock={warehouse: 3})
    cart_id = await cart_with(api, {sku: 3})

    result = await checkout_to_end(api, temporal_env.client, cart_id, payment_method="pm_card_chargeDeclined")

    assert result["status"] == "failed"
    assert result["error"]["code"] == "payment_declined"
    assert result["order_id"] is None
    assert await atp(api, sku) == 3
    cart = (await api.get(f"/carts/{cart_id}")).json()
    assert cart["status"] == "open", "a failed checkout hands the cart back to the shopper"


async def test_out_of_stock_fails_with_clear_code(api, temporal_env, engine, warehouse):
    sku = await make_sku(engine, stock={warehouse: 1})
    cart_id = await cart_with(api, {sku: 2})

    result = await checkout_to_end(api, temporal_env.client, cart_id)

    assert result["status"] == "failed"
    assert result["error"]["code"] == "out_of_stock"
    assert await atp(api, sku) == 1
    # The stock ran short inside prepare_checkout, after it had locked the cart: the cart is the shopper's again.
    assert (await api.get(f"/carts/{cart_id}")).json()["status"] == "open"


async def test_replay_returns_same_checkout_and_different_body_conflicts(api, temporal_env, engine, warehouse):
    sku = await make_sku(engine, stock={warehouse: 5})
    cart_id = await cart_with(api, {sku: 1})
    body = checkout_body(cart_id)

    first = await start_checkout(api, body, key="replay-key-1")
    second = await start_checkout(api, body, key="replay-key-1")
    assert first.status_code == second.status_code == 202
    assert first.json()["checkout_id"] == second.json()["checkout_id"]
    assert second.headers["Idempotent-Replayed"] == "true"

    done = await finished_checkout(api, temporal_env.client, first.json()["checkout_id"])
    after = await start_checkout(api, body, key="replay-key-1")
    assert after.json() == {**done, "step": None}
    assert await atp(api, sku) == 4, "the replay must not reserve again"

    different = await start_checkout(api, {**body, "email": "someone@example.com"}, key="replay-key-1")
    assert different.status_code == 409
    assert different.json()["error"]["code"] == "idempotency_key_reused"


async def test_checkout_needs_an_idempotency_key(api, engine, warehouse):
    sku = await make_sku(engine, stock={warehouse: 5})
    cart_id = await cart_with(api, {sku: 1})
    response = await api.post("/checkouts", json=checkout_body(cart_id))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"


async def test_unknown_cart_is_404_and_records_nothing(api):
    response = await start_checkout(api, checkout_body("cart_doesnotexist"), key="unknown-cart-key")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "cart_not_found"


async def test_only_a_cart_with_reminders_costs_the_checkout_a_call_to_stop_them(
        api, temporal_env, engine, warehouse, monkeypatch):
    """Reminders start only when a cart gets an email (services/cart_recovery.py): a checkout of a cart without one
    sends no signal to a reminder workflow that does not exist."""
    import services.checkout

    stopped: list[str] = []

    async def stop_reminders(temporal, cart_id):
        stopped.append(cart_id)

    monkeypatch.setattr(services.checkout, "stop_reminders", stop_reminders)
    sku = await make_sku(engine, stock={warehouse: 2})
    silent = await cart_with(api, {sku: 1})
    reminded = await cart_with(api, {sku: 1})
    assert (await api.put(f"/carts/{reminded}/email", json={"email": "ada@example.com"})).status_code == 200

    for cart_id in (silent, reminded):
        assert (await start_checkout(api, checkout_body(cart_id))).status_code == 202
    assert stopped == [reminded]
