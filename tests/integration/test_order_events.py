"""Order event log on PostgreSQL: keyed (order_id, event_id), replays are no-ops, transitions enforced."""

import pytest
from temporalio.client import WorkflowExecutionStatus

from db import orders as order_store
from models.errors import IllegalTransition
from models.order_state import OrderStatus
from tests.factories import make_location, make_sku
from tests.helpers import eventually
from tests.integration.checkout_helpers import cart_with, checkout_to_end, delivered_order, refund
from workflows import search_attributes as sa


@pytest.fixture(scope="module")
async def order(api, temporal_env, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 10})
    cart_id = await cart_with(api, {sku: 1})
    return await checkout_to_end(api, temporal_env.client, cart_id)


async def test_replayed_event_is_a_no_op(engine, api, order):
    order_id = order["order_id"]
    async with engine.begin() as conn:
        first = await order_store.append_event(conn, order_id, "capture:1", "payment.captured",
                                               to_status=OrderStatus.CAPTURED)
    async with engine.begin() as conn:
        again = await order_store.append_event(conn, order_id, "capture:1", "payment.captured",
                                               to_status=OrderStatus.CAPTURED)
    assert (first, again) == (True, False)
    body = (await api.get(f"/orders/{order_id}")).json()
    assert body["status"] == "captured"
    assert [e["event_id"] for e in body["events"]].count("capture:1") == 1


async def test_illegal_transition_is_refused_and_nothing_is_written(engine, api, order):
    order_id = order["order_id"]
    before = (await api.get(f"/orders/{order_id}")).json()
    with pytest.raises(IllegalTransition) as refused:
        async with engine.begin() as conn:
            await order_store.append_event(conn, order_id, "cancel:late", "order.cancelled",
                                           to_status=OrderStatus.CANCELLED)
    assert "captured" in refused.value.message and "cancelled" in refused.value.message
    after = (await api.get(f"/orders/{order_id}")).json()
    assert after["events"] == before["events"] and after["status"] == before["status"]


async def test_ops_can_find_checkouts_by_search_attributes(temporal_env, order):
    client = temporal_env.client
    query = f"CheckoutStatus = 'completed' AND OrderId = '{order['order_id']}' AND CustomerEmail = 'ada@example.com'"
    found = await _eventually_listed(client, query)
    assert [wf.id for wf in found] == [f"checkout-{order['checkout_id']}"]
    assert found[0].status == WorkflowExecutionStatus.COMPLETED
    description = await client.get_workflow_handle(found[0].id).describe()
    memo = await description.memo()
    assert memo["order_id"] == order["order_id"]


async def _eventually_listed(client, query: str) -> list:
    """Visibility is eventually consistent: retry the listing until it shows up."""
    async def listed():
        return [wf async for wf in client.list_workflows(query)]

    return await eventually(listed, interval=0.1, what=f"workflows listed by {query}")


async def test_every_workflow_about_an_order_is_found_by_its_order_id(api, temporal_env, engine):
    """Ops type `OrderId = '…'` in the Temporal UI and see the order's whole story, support and returns included."""
    done, (sku,) = await delivered_order(api, temporal_env, engine)
    order_id = done["order_id"]
    refunded = await refund(api, order_id, {"amount": 100, "reason": "late delivery"})
    assert refunded.status_code == 200, refunded.text
    returned = await api.post(f"/orders/{order_id}/returns", json={"lines": [{"sku": sku, "quantity": 1,
                                                                             "reason": "defective"}]})
    assert returned.status_code == 201, returned.text
    rma_id = returned.json()["id"]
    shipment_id = (await api.get(f"/orders/{order_id}")).json()["shipments"][0]["id"]
    expected = {f"checkout-{done['checkout_id']}", f"order-{order_id}", f"shipment-{shipment_id}",
                f"support-{order_id}", f"return-{rma_id}"}

    client = temporal_env.client

    async def all_listed():
        return {wf.id async for wf in client.list_workflows(f"OrderId = '{order_id}'")} == expected

    await eventually(all_listed, interval=0.1, what=f"the workflows {sorted(expected)} listed by OrderId")

    description = await client.get_workflow_handle(f"return-{rma_id}").describe()
    assert (await description.memo())["order_id"] == order_id
    assert description.typed_search_attributes.get(sa.CUSTOMER_EMAIL) == "ada@example.com"
    assert rma_id in (await description.static_summary())
