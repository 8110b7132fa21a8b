"""An order edit that lowers the total after the capture, under faults, on the dev server (edits are updates).

A card network without multicapture charges the whole order when its first parcel ships; removing the other
parcel's line then refunds the difference (``refund_order_edit``, key ``{order}:edit:{edit}:refund``). That step
in every fault mode, judged by the money invariants: never refunded more than captured, never twice, one key on
every retry, nothing left pending; the edit stands (the refund follows the apply), the removed line's stock is
back at its baseline, and a refund that did not happen is visible to ops."""

from dataclasses import replace

import pytest
from sqlalchemy import select

from adapters.local.payment import LocalPaymentGateway
from db import money_invariants as gather
from db.tables import payment_operations
from models.money_invariants import violations
from tests.faults.flows import closed, order_workflows, place_order, shipment_rows, start_stack, views
from tests.faults.harness import MODES, FaultInjector
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import delivered, eventually
from workflows.shipment import ShipmentWorkflow

STEP = "refund_order_edit"
# Attempts in which an unknown outcome on every attempt spends the step's retry budget here.
SPENT_AFTER = 3


@pytest.fixture
async def captured_split_order(temporal_env, engine, database_url, tmp_path):
    """A two-parcel order whose first parcel shipped and was delivered (capturing the whole order: no
    multicapture), the injector armed after: (stack, order id, the shipped sku, the other parcel's sku, its stock
    before the order)."""
    async def start(injector: FaultInjector):
        armed = (injector.activity_type, injector.mode)
        injector.activity_type = None
        stack = await start_stack(temporal_env, engine, database_url, tmp_path, injector,
                                  card_network=LocalPaymentGateway(multicapture_available=False))
        await stack.worker.__aenter__()
        stacks.append(stack)  # shut down at teardown even if this setup fails
        east, west = await make_location(engine, region="us-east"), await make_location(engine, region="us-west")
        shipped_sku = await make_sku(engine, price=2000, stock={west: 5})
        removed_sku = await make_sku(engine, price=3000, stock={east: 5})
        async with engine.connect() as conn:
            baseline = await gather.stock_of_skus(conn, [removed_sku])
        _, order_id = await place_order(stack, {shipped_sku: 1, removed_sku: 1})
        first = await eventually(lambda: _parcel_at(stack, order_id, west), what="two parcels")
        await stack.api.post(f"/shipments/{first.id}/packed")
        await eventually(lambda: _shipped(stack, order_id, first.id), what="the first parcel to ship (the whole capture)")
        await temporal_env.client.get_workflow_handle(first.workflow_id).signal(
            ShipmentWorkflow.tracking_update, delivered(f"d-{first.id}"))
        await eventually(lambda: closed(stack, first.workflow_id), what="the first parcel delivered")
        injector.activity_type, injector.mode = armed
        return stack, order_id, shipped_sku, removed_sku, baseline
    stacks = []
    yield start
    for stack in stacks:
        await stack.api.aclose()
        await stack.worker.__aexit__(None, None, None)


async def _parcel_at(stack, order_id: str, location_id: str):
    rows = await shipment_rows(stack, order_id)
    return next((row for row in rows if row.location_id == location_id), None) if len(rows) == 2 else None


async def _shipped(stack, order_id: str, shipment_id: str) -> bool:
    return any(row.id == shipment_id and row.shipped_at for row in await shipment_rows(stack, order_id))


def remove_line(stack, order_id: str, sku: str, key: str):
    return stack.api.post(f"/orders/{order_id}/edits", headers={"Idempotency-Key": key},
                          json={"reason": "customer called", "lines": [{"sku": sku, "quantity": 0}]})


async def refund_keys(engine, order_id: str) -> set[str]:
    """The ledger's refund keys of this order's edits."""
    async with engine.connect() as conn:
        return set((await conn.execute(select(payment_operations.c.idempotency_key).where(
            payment_operations.c.kind == "refund",
            payment_operations.c.idempotency_key.like(f"{order_id}:edit:%")))).scalars())


async def judge(stack, order_id: str) -> list:
    async with stack.engine.connect() as conn:
        facts = await gather.order_facts(conn, order_id, provider=tuple(stack.gateway.effects))
    return violations(replace(facts, workflows=await views(stack, await order_workflows(stack, order_id))))


async def _settled(stack, order_id: str) -> bool:
    """The order workflow and its parcels' each ended, or wait on something ops can see. Every parcel too: the
    edit dissolves the removed line's parcel, whose workflow may still be ending when the order shows its alert
    (seen on a loaded machine)."""
    for flow in await order_workflows(stack, order_id):
        if not (await closed(stack, flow) or (await views(stack, [flow]))[0].visible_reason):
            return False
    return True


@pytest.mark.parametrize("mode", MODES, ids=[f"lower-{STEP}-{mode}" for mode in MODES])
async def test_lowering_edit_after_capture_fault(captured_split_order, engine, mode):
    injector = FaultInjector(STEP, mode, ("FulfillmentWorkflow",), spent_after=SPENT_AFTER)
    stack, order_id, shipped_sku, removed_sku, baseline = await captured_split_order(injector)
    key = f"edit-{order_id}"
    first = await remove_line(stack, order_id, removed_sku, key)
    again = await remove_line(stack, order_id, removed_sku, key)

    assert await eventually(lambda: injector.injected > 0), f"{STEP} never ran"
    assert (first.status_code, again.status_code) == (200, 200), (first.text, again.text)  # the edit stands
    answer = first.json()
    assert answer["payment"]["action"] == "refund", answer
    shown = (await stack.api.get(f"/orders/{order_id}")).json()
    assert (shown["totals"]["total"], [line["sku"] for line in shown["lines"]]) == (answer["total"], [shipped_sku]), \
        "the edit is applied whole"
    assert await eventually(lambda: _settled(stack, order_id)), "the order neither ended nor shows an alert"
    found = await judge(stack, order_id)
    assert not found, "\n".join(map(str, found))
    the_key = f"{order_id}:edit:{answer['edit_id']}:refund"
    assert {e.idempotency_key for e in stack.gateway.effects if e.kind == "refund"} <= {the_key}
    assert await refund_keys(engine, order_id) <= {the_key}, "a retry refunded under another key"
    assert stack.gateway.count("refund") == (0 if mode == "business" else 1), "refunded once, or not at all"
    alert = (await views(stack, [f"order-{order_id}"]))[0].visible_reason or ""
    if not stack.gateway.count("refund"):  # not refunded: ops must see it
        assert alert.startswith("edit_refund_failed:"), alert
    else:  # refunded: nobody may be told it failed (ops would refund by hand a second time)
        assert not alert.startswith("edit_refund_failed"), f"the provider refunded, yet the order shows {alert}"
    if mode == "unknown_always":  # the answer never came: ops see an unknown outcome, not a failure
        assert alert == "edit_refund_unknown", alert
    async with engine.connect() as conn:
        assert await gather.stock_of_skus(conn, [removed_sku]) == baseline, "the removed line's stock is back"
