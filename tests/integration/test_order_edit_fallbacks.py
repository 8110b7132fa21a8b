"""Order edits where the easy paths are closed: a card network without multicapture or incremental authorization
(refund after the single capture; a new authorization replaces the hold), a failing step's compensation, and an
edit and a cancel of one order at the same time. The module's worker wraps two real activities: one waits on a
gate the test holds, one fails for the orders the test names (a stand-in for a refusal at apply time)."""

import asyncio
import uuid

import pytest
import pytest_asyncio
from sqlalchemy import select
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError

from adapters.factory import Adapters
from adapters.local.email import OutboxEmailSender
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from db.tables import orders, payment_operations
from models.order_edits import EditAuthorization, EditOutcome, EditPlan
from models.workflow_ids import order as order_workflow
from tests.factories import make_location, make_sku
from tests.helpers import eventually
from tests.integration.checkout_helpers import (
    REUSED_CARDS, atp, cart_with, checkout_to_end, order_with_shipments, reused_card,
)
from worker import WORKFLOWS, build_activities

RESERVE_GATE = asyncio.Event()
FAIL_APPLY_FOR: set[str] = set()  # order ids whose edit is refused at apply


@pytest_asyncio.fixture(scope="module")
async def worker(temporal_env, engine, task_queue, tmp_path_factory):
    from temporalio.worker import Worker

    RESERVE_GATE.set()
    gateway = LocalPaymentGateway(engine=engine, multicapture_available=False, incremental_available=False)
    adapters = Adapters(payment=gateway, tax=LocalTaxCalculator(), shipping=LocalShippingCarrier(),
                        email=OutboxEmailSender(tmp_path_factory.mktemp("outbox")))
    real = {fn.__temporal_activity_definition.name: fn for fn in build_activities(engine, adapters)}

    @activity.defn(name="reserve_order_edit")
    async def reserve_order_edit(plan: EditPlan) -> int:
        await RESERVE_GATE.wait()
        return await real["reserve_order_edit"](plan)

    @activity.defn(name="apply_order_edit")
    async def apply_order_edit(plan: EditPlan, authorization: EditAuthorization | None) -> EditOutcome:
        if plan.order_id in FAIL_APPLY_FOR:
            raise ApplicationError("a parcel captured meanwhile", type="order_changed", non_retryable=True)
        return await real["apply_order_edit"](plan, authorization)

    stand_ins = {"reserve_order_edit": reserve_order_edit, "apply_order_edit": apply_order_edit}
    activities = [stand_ins.get(name, fn) for name, fn in real.items()]
    async with Worker(temporal_env.client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities) as running:
        yield running


def edit(api, order_id, lines):
    return api.post(f"/orders/{order_id}/edits", json={"reason": "customer called", "lines": lines},
                    headers={"Idempotency-Key": str(uuid.uuid4())})


async def _one_parcel_order(api, temporal_env, engine, quantity=1, card="pm_card_visa"):
    location = await make_location(engine)
    sku = await make_sku(engine, price=2000, stock={location: 10})
    done = await checkout_to_end(api, temporal_env.client, await cart_with(api, {sku: quantity}), payment_method=card)
    return await order_with_shipments(api, done["order_id"], 1), sku


async def _operations(engine, prefix: str) -> dict[str, tuple[str, int, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(payment_operations.c.idempotency_key, payment_operations.c.kind,
                                         payment_operations.c.amount, payment_operations.c.status)
                                  .where(payment_operations.c.idempotency_key.like(f"{prefix}%")))
        return {key: (kind, amount, status) for key, kind, amount, status in rows}


async def _payment_ref(engine, order_id):
    async with engine.connect() as conn:
        return (await conn.execute(select(orders.c.payment_ref).where(orders.c.id == order_id))).scalar()


@pytest.mark.parametrize("card", REUSED_CARDS)
async def test_without_incremental_authorization_a_new_hold_replaces_the_old(api, temporal_env, engine, card):
    card = reused_card(card)
    order, sku = await _one_parcel_order(api, temporal_env, engine, card=card)
    old_ref = await _payment_ref(engine, order["id"])

    response = await edit(api, order["id"], [{"sku": sku, "quantity": 2}])

    assert response.status_code == 200, response.text
    result = response.json()
    prefix = f"{order['id']}:edit:{result['edit_id']}:"
    ops = await _operations(engine, prefix)
    assert ops[prefix + "increment"][2] == "failed"  # the network refused to raise the hold in place
    assert ops[prefix + "authorize"] == ("authorize", result["total"], "succeeded")
    assert ops[prefix + "void-replaced"][2] == "succeeded"  # the old hold is released
    assert await _payment_ref(engine, order["id"]) == f"{order['id']}:edit:{result['edit_id']}" != old_ref

    (parcel,) = [s for s in (await api.get(f"/orders/{order['id']}")).json()["shipments"] if s["status"] != "cancelled"]
    await api.post(f"/shipments/{parcel['id']}/packed")

    async def captured():
        return (await _operations(engine, f"{parcel['id']}:capture")).get(f"{parcel['id']}:capture", (0, 0, ""))
    assert (await eventually(lambda: _succeeded(captured), what="the capture"))[1] == result["total"]


async def _succeeded(probe):
    found = await probe()
    return found if found[2] == "succeeded" else None


async def test_after_the_single_capture_a_lower_total_is_refunded(api, temporal_env, engine):
    east, west = await make_location(engine, region="us-east"), await make_location(engine, region="us-west")
    a, b = await make_sku(engine, stock={west: 5}), await make_sku(engine, price=3000, stock={east: 5})
    done = await checkout_to_end(api, temporal_env.client, await cart_with(api, {a: 1, b: 1}))
    order = await order_with_shipments(api, done["order_id"], 2)
    (first,) = [s for s in order["shipments"] if s["items"][0]["sku"] == a]
    await api.post(f"/shipments/{first['id']}/packed")

    async def shipped():
        shipments = (await api.get(f"/orders/{order['id']}")).json()["shipments"]
        return any(s["id"] == first["id"] and s["shipped_at"] for s in shipments)
    await eventually(shipped, what="the first parcel to ship (capturing the whole order: no multicapture)")

    response = await edit(api, order["id"], [{"sku": b, "quantity": 0}])

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["payment"] == {"action": "refund", "amount": order["totals"]["total"] - result["total"]}
    refund_key = f"{order['id']}:edit:{result['edit_id']}:refund"
    assert (await _operations(engine, refund_key))[refund_key] == ("refund", result["payment"]["amount"], "succeeded")
    assert await atp(api, b) == 5


async def test_a_refused_apply_releases_the_hold_and_voids_the_new_authorization(api, temporal_env, engine):
    order, sku = await _one_parcel_order(api, temporal_env, engine)
    FAIL_APPLY_FOR.add(order["id"])

    response = await edit(api, order["id"], [{"sku": sku, "quantity": 3}])

    assert (response.status_code, response.json()["error"]["code"]) == (409, "order_changed")
    assert await atp(api, sku) == 9  # the two units the edit held are back
    ops = await _operations(engine, f"{order['id']}:edit:")
    (authorized,) = [key for key, (kind, _, status) in ops.items() if kind == "authorize" and status == "succeeded"]
    void_key = authorized.replace(":authorize", ":void-unused")
    assert ops[void_key][2] == "succeeded"
    after = (await api.get(f"/orders/{order['id']}")).json()
    assert after["totals"] == order["totals"] and after["lines"][0]["quantity"] == 1
    assert not [e for e in after["events"] if e["type"] == "order.edited"]


async def test_an_edit_and_a_cancel_at_once_are_applied_one_after_the_other(api, temporal_env, engine):
    order, sku = await _one_parcel_order(api, temporal_env, engine, quantity=2)
    handle = temporal_env.client.get_workflow_handle(order_workflow(order["id"]))
    RESERVE_GATE.clear()
    try:
        editing = asyncio.create_task(edit(api, order["id"], [{"sku": sku, "quantity": 3}]))
        await eventually(lambda: _scheduled(handle, "reserve_order_edit"), what="the edit to be holding stock")
        cancelling = asyncio.create_task(api.post(f"/orders/{order['id']}/cancel", json={"reason": "changed mind"}))
        await eventually(lambda: _updates_accepted(handle, 2), what="the cancel to be accepted")
        assert not editing.done() and not cancelling.done()  # the cancel waits for the edit
    finally:
        RESERVE_GATE.set()
    edited, cancelled = await editing, await cancelling
    assert edited.status_code == 200, edited.text
    assert cancelled.status_code == 200, cancelled.text
    assert await handle.result() == "cancelled"
    assert await atp(api, sku) == 10  # the edit's added unit came back with the rest


async def _scheduled(handle, activity_type: str) -> bool:
    return any(e.activity_task_scheduled_event_attributes.activity_type.name == activity_type
               for e in (await handle.fetch_history()).events)


async def _updates_accepted(handle, count: int) -> bool:
    history = await handle.fetch_history()
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED for e in history.events) >= count


@pytest.fixture(autouse=True)
def _open_gate():
    RESERVE_GATE.set()
    yield
    RESERVE_GATE.set()
