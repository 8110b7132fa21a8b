"""Fulfillment + shipment under faults: every activity in every fault mode, on a one-parcel order shipped
and delivered, an order whose authorization expires (cancelled, or renewed then shipped); the money
invariants hold afterwards and nothing is captured twice."""

import contextlib
from dataclasses import replace
from datetime import timedelta

import pytest
from temporalio.service import RPCError

from db import money_invariants as gather
from models.fulfillment import FulfillmentPolicy
from models.money_invariants import violations
from tests.faults.flows import (
    VISIBLE_FULFILLMENT_WAITS, advance_until, closed, order_workflows, place_order, reconcile, shipment_rows,
    start_stack, stocked_sku, views,
)
from tests.faults.harness import MODES, FaultInjector
from tests.integration.checkout_helpers import delivered
from workflows.shipment import ShipmentWorkflow

FLOWS = ("FulfillmentWorkflow", "ShipmentWorkflow")
DAY = 24 * 3600
# Timers far beyond a case's horizon, so only the faults decide what happens.
CALM = FulfillmentPolicy(authorization_ttl_seconds=60 * DAY, pack_alert_seconds=30 * DAY,
                         delivery_alert_seconds=60 * DAY, delivery_give_up_seconds=90 * DAY)
EXPIRING = CALM.model_copy(update={"authorization_ttl_seconds": 3600, "on_authorization_expiry": "cancel"})
RENEWING = CALM.model_copy(update={"authorization_ttl_seconds": 3600, "on_authorization_expiry": "reauthorize"})

SCENARIOS = {
    # scenario: (policy, activities a clean run of it performs in FLOWS, in order)
    "delivered": (CALM, ["load_order", "allocate_order", "send_order_confirmation", "mark_packed", "buy_label",
                         "prepare_capture", "capture_payment", "commit_tax", "ship", "send_shipped",
                         "record_tracking", "send_delivered"]),
    "expired": (EXPIRING, ["load_order", "allocate_order", "send_order_confirmation", "cancel_order",
                           "current_authorization", "void_authorization", "send_order_cancelled"]),
    # Two SKUs, each stocked at its own location: two parcels, two captures on one authorization.
    "split": (CALM, ["load_order", "allocate_order", "send_order_confirmation", "mark_packed", "buy_label",
                     "prepare_capture", "capture_payment", "commit_tax", "ship", "send_shipped",
                     "record_tracking", "send_delivered"]),
    # Re-authorization in steps: plan it, authorize anew, switch the order to the new hold, void the old one.
    "renewed": (RENEWING, ["load_order", "allocate_order", "send_order_confirmation", "plan_reauthorization",
                           "authorize_payment", "switch_authorization", "void_authorization", "mark_packed", "buy_label", "prepare_capture", "capture_payment", "commit_tax", "ship",
                           "send_shipped", "record_tracking", "send_delivered"]),
}
# Each scenario's matrix covers what is particular to it; "delivered" covers the common steps.
TARGETS = {"delivered": SCENARIOS["delivered"][1],
           "expired": ["cancel_order", "current_authorization", "void_authorization"],
           "renewed": ["plan_reauthorization", "authorize_payment", "switch_authorization", "void_authorization"]}

BOTH = ("business", "unknown_always")
VISIBLE_WAITS = {None, *VISIBLE_FULFILLMENT_WAITS}  # an order's visible reason that is not an alert
# The injected code a step's final failure carries: a business refusal, or a retry budget spent.
FINAL_CODE = {"business": "injected_failure", "unknown_always": "provider_unavailable"}
# A step the order cannot do without, failing for good: the workflow waits (never fails) with this alert
# visible (FulfillmentAlert and the shipment's alert), retrying on a timer or ops' signal.
ROUTING_ALERTS = ("load_failed:", "allocation_failed:")
PERSISTED = {"load_order": "load_failed", "allocate_order": "allocation_failed", "mark_packed": "pack_failed",
             "commit_tax": "tax_commit_failed",
             "ship": "ship_failed", "record_tracking": "tracking_failed"}
BEFORE_CAPTURE = ("load_order", "allocate_order", "mark_packed")
# (scenario, activity, mode): (alert expected at rest, distinct captures the provider made).
EXPECTED: dict[tuple[str, str, str], tuple[str, int]] = {
    **{("delivered", name, mode): (f"{alert}:{FINAL_CODE[mode]}", 0 if name in BEFORE_CAPTURE else 1)
       for name, alert in PERSISTED.items() for mode in BOTH},
    # Refused for good: label refunded, capture share and stock released, the parcel ends capture_failed.
    ("delivered", "capture_payment", "business"): ("capture_failed:injected_failure", 0),
    # Unknown: it may have captured; the same key is retried (the provider captured once) while ops see it.
    ("delivered", "capture_payment", "unknown_always"): ("capture_unknown", 1),
    # Its capture was planned but never sent: the order shows what the ledger says (nothing taken), ops see why.
    ("delivered", "prepare_capture", "unknown_always"): ("capture_unknown", 0),
    # A re-authorization bookkeeping step failing for good: the order waits on a visible alert and keeps the
    # old hold, which its parcel (packed meanwhile) captures once.
    **{("renewed", name, mode): (f"reauthorization_failed:{FINAL_CODE[mode]}", 1)
       for name in ("plan_reauthorization", "switch_authorization") for mode in BOTH},
}
# Unanswered for good, then looked up (the database says what became of it): the run ends as a clean one.
LOOKED_UP = {("expired", "cancel_order", "unknown_always")}
# The cancel left the hold on the card (current_authorization or the void failed for good; ops see
# cancel_incomplete:void): reconciliation's orphan-hold sweep voids it under its own key.
SWEPT = {("expired", "current_authorization", mode) for mode in BOTH} | {("expired", "void_authorization", "business")}
KNOWN: dict[tuple[str, str, str], str] = {}  # (scenario, activity, mode): why it fails today


def cases():
    for scenario, activities in TARGETS.items():
        for name in activities:
            for mode in MODES:
                reason = KNOWN.get((scenario, name, mode))
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                yield pytest.param(scenario, name, mode, id=f"{scenario}-{name}-{mode}", marks=marks)


@pytest.fixture
async def run_order(time_env, engine, database_url, tmp_path):
    async def run(injector: FaultInjector, scenario: str):
        policy, _ = SCENARIOS[scenario]
        stack = await start_stack(time_env, engine, database_url, tmp_path, injector, policy)
        async with stack.worker, stack.api:
            sku, baseline = await stocked_sku(engine)
            lines = {sku: 2}
            if scenario == "split":
                other, more = await stocked_sku(engine)
                lines, baseline = {sku: 1, other: 1}, baseline + more
            _, order_id = await place_order(stack, lines)
            if scenario == "expired":  # nothing ships before the authorization lapses
                await advance_until(time_env, lambda: closed(stack, f"order-{order_id}"), limit=timedelta(hours=4))
                # Then the reconciliation Schedule's next run: its sweep voids holds a cancel left behind.
                await reconcile(stack)
            else:
                if scenario == "renewed":  # past the first expiry: renewed (or not) before anything ships
                    await advance_until(time_env, lambda: closed(stack, f"order-{order_id}"), limit=timedelta(minutes=90))
                await ship_and_deliver(stack, order_id)
            async with engine.connect() as conn:
                facts = await gather.order_facts(conn, order_id, provider=tuple(stack.gateway.effects),
                                                 stock_before=baseline)
            facts = replace(facts, workflows=_explained(await views(stack, await order_workflows(stack, order_id))))
            return order_id, facts, stack
    return run


def _explained(flows):
    """An order stuck routing on a visible alert may have planned parcels (rows) it never started:
    the order's alert is their visible reason, so they are not judged as missing workflows."""
    order, *parcels = flows
    if order.status == "running" and (order.visible_reason or "").startswith(ROUTING_ALERTS):
        parcels = [parcel for parcel in parcels if parcel.status != "missing"]
    return (order, *parcels)


async def ship_and_deliver(stack, order_id: str) -> None:
    """Pack every parcel, let it ship, report it delivered; steps the faults made moot are skipped."""
    order_flow = f"order-{order_id}"

    async def routed():
        rows = await shipment_rows(stack, order_id)
        started = [await closed(stack, row.workflow_id) or await _running(stack, row.workflow_id) for row in rows]
        return await closed(stack, order_flow) or (rows and all(started))

    await advance_until(stack.env, routed, step=timedelta(minutes=1), limit=timedelta(hours=1))
    for row in await shipment_rows(stack, order_id):
        await stack.api.post(f"/shipments/{row.id}/packed")

    async def shipped_or_stuck():
        for row in await shipment_rows(stack, order_id):
            if not (row.shipped_at or row.alert or await closed(stack, row.workflow_id)):
                return False
        return True

    await advance_until(stack.env, shipped_or_stuck, limit=timedelta(hours=12))
    for row in await shipment_rows(stack, order_id):
        if await _running(stack, row.workflow_id):
            with contextlib.suppress(RPCError):  # a parcel that ended meanwhile needs no tracking
                await stack.env.client.get_workflow_handle(row.workflow_id).signal(
                    ShipmentWorkflow.tracking_update, delivered(f"d-{row.id}"))

    async def ended_or_alerted():
        """The order ended, or waits on an ops alert with every parcel ended or alerted (it waits for good)."""
        if await closed(stack, order_flow):
            return True
        rows = await shipment_rows(stack, order_id)
        parcels = [bool(row.alert) or await closed(stack, row.workflow_id) for row in rows]
        return all(parcels) and (await views(stack, [order_flow]))[0].visible_reason not in VISIBLE_WAITS

    await advance_until(stack.env, ended_or_alerted, limit=timedelta(hours=12))


async def _running(stack, workflow_id: str) -> bool:
    return not await closed(stack, workflow_id) and (await views(stack, [workflow_id]))[0].status == "running"


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_a_clean_run_covers_the_matrix(run_order, scenario):
    """The matrix follows the code: a clean run of each scenario performs exactly the activities listed."""
    injector = FaultInjector()
    _, facts, stack = await run_order(injector, scenario)
    assert injector.activities(*FLOWS) == SCENARIOS[scenario][1]
    found = violations(facts)
    assert not found, "\n".join(map(str, found))


@pytest.mark.parametrize("scenario,activity_type,mode", cases())
async def test_fulfillment_fault(run_order, scenario, activity_type, mode):
    injector = FaultInjector(activity_type, mode, FLOWS)
    order_id, facts, stack = await run_order(injector, scenario)

    assert injector.injected, f"{activity_type} never ran"
    found = violations(facts)
    assert not found, "\n".join(map(str, found))
    assert stack.gateway.count("capture") <= 1, "one parcel, one capture"
    if mode in ("transient", "unknown_once") or (scenario, activity_type, mode) in LOOKED_UP:
        expected = "cancelled" if scenario == "expired" else "fulfilled"
        assert facts.order.status == expected, f"a retried step still ends the order {expected}"
    if (scenario, activity_type, mode) in SWEPT:
        assert "cancel_incomplete:void" in _alerts(facts), f"ops see the void undone: {facts.workflows}"
        swept = [e for e in stack.gateway.effects if e.kind == "void" and e.idempotency_key.endswith(":orphan-void")]
        assert swept, "reconciliation's sweep voided the hold the cancel left"
    if (scenario, activity_type, mode) in EXPECTED:
        alert, captures = EXPECTED[scenario, activity_type, mode]
        assert alert in _alerts(facts), f"ops see {alert}: {facts.workflows} {facts.order}"
        assert stack.gateway.count("capture") == captures, f"the provider captured exactly {captures} time(s)"


def _alerts(facts) -> set:
    """Alerts ops can see: the workflows' FulfillmentAlert and the parcels' alerts on the order page."""
    return {flow.visible_reason for flow in facts.workflows} | {parcel.alert for parcel in facts.order.shipments}
