"""Returns and support refunds under faults, on the dev server (their steps arrive as updates, which the
time-skipping server lacks). Every activity of a full return (approve → label → receive → inspect →
refund) and of a support refund, in every fault mode. An unknown outcome on every attempt cannot wait
out a 5-minute budget in real time: it spends it in a few attempts (``FaultInjector.spent_after``)."""

import os
from dataclasses import replace
from pathlib import Path

import pytest

from db import money_invariants as gather
from models.money_invariants import violations
from tests.faults.flows import closed, place_order, shipment_rows, start_stack, stocked_sku, views
from tests.faults.harness import MODES, FaultInjector
from tests.integration.checkout_helpers import delivered, eventually, refund
from workflows.shipment import ShipmentWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
# Attempts in which an unknown outcome on every attempt spends a step's retry budget here.
SPENT_AFTER = 3
RETURN_STEPS = ["set_return_status", "buy_return_label", "send_return_approved", "mark_received", "apply_inspection",
                "refund_return", "send_return_refunded"]
SUPPORT_STEPS = ["issue_refund", "send_refund_issued"]  # the email goes out after the answer

KNOWN: dict[tuple[str, str], str] = {}


def cases(flow: str, steps: list[str]):
    for name in steps:
        for mode in MODES:
            reason = KNOWN.get((name, mode))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(name, mode, id=f"{flow}-{name}-{mode}", marks=marks)


@pytest.fixture
async def delivered_stack(temporal_env, engine, database_url, tmp_path):
    """A stack whose injector is armed only after a clean order was delivered: (stack, order id, sku)."""
    async def start(injector: FaultInjector, edge=None):
        armed = (injector.activity_type, injector.mode)
        injector.activity_type = None
        stack = await start_stack(temporal_env, engine, database_url, tmp_path, injector, edge=edge)
        await stack.worker.__aenter__()
        stacks.append(stack)  # shut down at teardown even if this setup fails
        sku, _ = await stocked_sku(engine)
        _, order_id = await place_order(stack, {sku: 2})
        assert await eventually(lambda: _shipped_rows(stack, order_id)), "never routed"
        (row,) = await shipment_rows(stack, order_id)
        await stack.api.post(f"/shipments/{row.id}/packed")
        assert await eventually(lambda: _is_shipped(stack, order_id)), "never shipped"
        await temporal_env.client.get_workflow_handle(row.workflow_id).signal(
            ShipmentWorkflow.tracking_update, delivered(f"d-{row.id}"))
        assert await eventually(lambda: closed(stack, f"order-{order_id}")), "never delivered"
        injector.activity_type, injector.mode = armed
        return stack, order_id, sku
    stacks = []
    yield start
    for stack in stacks:
        await stack.api.aclose()
        await stack.worker.__aexit__(None, None, None)


async def _shipped_rows(stack, order_id):
    rows = await shipment_rows(stack, order_id)
    return rows and all([not await closed(stack, r.workflow_id) for r in rows])


async def _is_shipped(stack, order_id):
    return all(row.shipped_at for row in await shipment_rows(stack, order_id))


async def judge(stack, order_id: str, workflow_ids: list[str]) -> list:
    async with stack.engine.connect() as conn:
        facts = await gather.order_facts(conn, order_id, provider=tuple(stack.gateway.effects))
    return violations(replace(facts, workflows=await views(stack, workflow_ids)))


async def run_return(stack, order_id: str, sku: str) -> str:
    """Request, approve, receive and inspect a full return; steps a fault made moot are skipped."""
    api = stack.api
    created = await api.post(f"/orders/{order_id}/returns",
                             json={"lines": [{"sku": sku, "quantity": 2, "reason": "no_longer_needed"}]})
    assert created.status_code == 201, created.text
    rma_id = created.json()["id"]
    flow = f"return-{rma_id}"
    await api.post(f"/returns/{rma_id}/approve", json={"note": "ok"})
    await eventually(lambda: _status_in(stack, rma_id, flow, {"awaiting_return"}), 20)
    await api.post(f"/returns/{rma_id}/receive")
    await eventually(lambda: _status_in(stack, rma_id, flow, {"received"}), 20)
    await api.post(f"/returns/{rma_id}/inspect",
                   json={"units": [{"sku": sku, "quantity": 2, "disposition": "refurbish"}]})
    await eventually(lambda: _at_rest(stack, flow), 30)
    return flow


async def _at_rest(stack, flow: str) -> bool:
    """Ended, or waiting on an alert ops can see (e.g. a refund asked again later under its id)."""
    return await closed(stack, flow) or bool((await views(stack, [flow]))[0].visible_reason)


async def _injected(injector: FaultInjector) -> bool:
    return injector.injected > 0


async def _ran_exactly(injector: FaultInjector, workflow_type: str, steps: list[str]) -> bool:
    return injector.activities(workflow_type) == steps


async def _status_in(stack, rma_id, flow, statuses) -> bool:
    return (await stack.api.get(f"/returns/{rma_id}")).json().get("status") in statuses or await closed(stack, flow)


async def test_a_clean_return_and_refund_cover_the_matrix(delivered_stack):
    injector = FaultInjector()
    stack, order_id, sku = await delivered_stack(injector)
    flow = await run_return(stack, order_id, sku)
    assert injector.activities("ReturnWorkflow") == RETURN_STEPS
    assert await judge(stack, order_id, [flow]) == []

    injector = FaultInjector()
    stack, order_id, _ = await delivered_stack(injector)
    answered = await refund(stack.api, order_id, {"amount": 500, "reason": "late"})
    assert answered.status_code in (200, 201), answered.text
    assert await eventually(lambda: _ran_exactly(injector, "OrderSupportWorkflow", SUPPORT_STEPS)), injector.ran
    assert await judge(stack, order_id, []) == []


@pytest.mark.parametrize("activity_type,mode", cases("return", RETURN_STEPS))
async def test_return_fault(delivered_stack, activity_type, mode):
    injector = FaultInjector(activity_type, mode, ("ReturnWorkflow",), spent_after=SPENT_AFTER)
    stack, order_id, sku = await delivered_stack(injector)
    flow = await run_return(stack, order_id, sku)

    assert injector.injected, f"{activity_type} never ran"
    found = await judge(stack, order_id, [flow])
    assert not found, "\n".join(map(str, found))
    assert stack.gateway.count("refund") <= 1, "one return, one refund"
    if stack.gateway.count("refund"):  # money went back: nobody may be told the refund failed
        shown = (await stack.api.get(f"/returns/{flow.removeprefix('return-')}")).json()["status"]
        assert shown != "refund_failed", "the return says its refund failed, but the provider refunded"
    if (activity_type, mode) == ("refund_return", "unknown_always"):  # asked again later under the same id
        assert (await views(stack, [flow]))[0].visible_reason == "return_refund_unknown"
    if (activity_type, mode) == ("buy_return_label", "business"):
        await record_history(stack, flow, "return_needs_attention")


async def record_history(stack, workflow_id: str, name: str) -> None:
    """Save this run's history for tests/integration/test_replay.py (RECORD_HISTORIES=1 adds missing files)."""
    target = HISTORIES / f"{name}.json"
    if os.environ.get("RECORD_HISTORIES") == "1" and not target.exists():
        history = await stack.env.client.get_workflow_handle(workflow_id).fetch_history()
        target.write_text(history.to_json())


@pytest.mark.parametrize("activity_type,mode", cases("support", SUPPORT_STEPS))
async def test_support_refund_fault(delivered_stack, activity_type, mode):
    injector = FaultInjector(activity_type, mode, ("OrderSupportWorkflow",), spent_after=SPENT_AFTER)
    stack, order_id, _ = await delivered_stack(injector)
    key = f"refund-{order_id}"
    first = await refund(stack.api, order_id, {"amount": 500, "reason": "late"}, key=key)
    again = await refund(stack.api, order_id, {"amount": 500, "reason": "late"}, key=key)

    assert await eventually(lambda: _injected(injector)), f"{activity_type} never ran"  # emails follow the answer
    assert first.status_code == again.status_code, (first.text, again.text)
    if mode != "business" or stack.gateway.count("refund"):  # refunded: the answer says so
        assert first.status_code in (200, 201), first.text
    found = await judge(stack, order_id, [])
    assert not found, "\n".join(map(str, found))
    assert stack.gateway.count("refund") <= 1, "one refund id, one provider refund"
