"""Replay workflow histories against today's workflow code.

Saved histories under tests/histories/ pin the behaviour of shipped code: a change that
would break running workflows fails here (change workflow code behind
``workflow.patched()`` instead). ``RECORD_HISTORIES=1 pytest this_file`` records the
scenarios' fresh histories as new files; existing files are kept unless removed first.
"""

import json
import os
import types
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowHistory
from temporalio.service import RPCError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from adapters.local.card_network import CardNetwork
from db import payments as ledger
from models import workflow_ids
from models.fulfillment import TrackingEvent
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import ADDRESS, cart_with, checkout_body, finished_checkout, start_checkout
from tests.integration.checkout_helpers import eventually, order_with_shipments
from tests.integration.checkout_helpers import post_stripe, stripe_event
from tests.integration.test_webhooks import settings  # noqa: F401  (webhook secrets for this module)
from worker import WORKFLOWS
from workflows.checkout import CheckoutWorkflow
from workflows.returns import ReturnWorkflow
from workflows.shipment import ShipmentWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


def replayer() -> Replayer:
    return Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_saved_history_replays(path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await replayer().replay_workflow(history)
    assert result.replay_failure is None


async def _checkout(api, temporal, engine, *, payment_method="pm_card_visa", quantity=1, on_hand=5) -> dict:
    sku = await make_sku(engine, price=1999, stock={await make_location(engine): on_hand})
    started = await start_checkout(api, checkout_body(await cart_with(api, {sku: quantity}),
                                                      payment_method=payment_method))
    return started.json()


async def scenario_checkouts(api, temporal, engine) -> dict[str, str]:
    runs = {
        "checkout_completed": await _checkout(api, temporal, engine, quantity=2),
        "checkout_declined": await _checkout(api, temporal, engine, payment_method="pm_card_chargeDeclined"),
        "checkout_out_of_stock": await _checkout(api, temporal, engine, quantity=3, on_hand=1),
        # Since the local-database-steps patch (the names above were recorded before it).
        "checkout_local_steps_completed": await _checkout(api, temporal, engine, quantity=2),
        "checkout_local_steps_out_of_stock": await _checkout(api, temporal, engine, quantity=3, on_hand=1),
        # Since the local-provider-quotes patch.
        "checkout_local_quotes_completed": await _checkout(api, temporal, engine, quantity=2),
        "checkout_local_quotes_declined": await _checkout(api, temporal, engine,
                                                          payment_method="pm_card_chargeDeclined"),
        "checkout_local_quotes_out_of_stock": await _checkout(api, temporal, engine, quantity=3, on_hand=1),
        # Since the prepared-checkout patch (one local activity up to the payment).
        "checkout_prepared_completed": await _checkout(api, temporal, engine, quantity=2),
        "checkout_prepared_declined": await _checkout(api, temporal, engine, payment_method="pm_card_chargeDeclined"),
        "checkout_prepared_out_of_stock": await _checkout(api, temporal, engine, quantity=3, on_hand=1),
    }
    for run in runs.values():
        await finished_checkout(api, temporal, run["checkout_id"])
    return {name: f"checkout-{run['checkout_id']}" for name, run in runs.items()}


async def scenario_three_d_secure(api, temporal, engine) -> dict[str, str]:
    checkout_id = (await _checkout(api, temporal, engine, payment_method="pm_card_authenticationRequired"))["checkout_id"]
    handle = temporal.get_workflow_handle(f"checkout-{checkout_id}")

    async def waiting_for_card_holder():
        return await handle.query(CheckoutWorkflow.current_step) == "requires_action"

    assert await eventually(waiting_for_card_holder)
    async with engine.connect() as conn:
        (authorize,) = [op for op in await ledger.operations_for(conn, checkout_id) if op.kind == "authorize"]
    await CardNetwork(engine).answer_challenge(authorize.provider_ref, succeeded=True)  # the card holder
    await post_stripe(api, stripe_event("payment_intent.amount_capturable_updated", {"id": authorize.provider_ref}))
    await finished_checkout(api, temporal, checkout_id)
    return {"checkout_3ds_completed": f"checkout-{checkout_id}"}


async def scenario_fulfillment(api, temporal, engine) -> dict[str, str]:
    checkout = await _checkout(api, temporal, engine)
    done = await finished_checkout(api, temporal, checkout["checkout_id"])
    shipment = (await order_with_shipments(api, done["order_id"], 1))["shipments"][0]
    await api.post(f"/shipments/{shipment['id']}/packed")
    handle = temporal.get_workflow_handle(f"shipment-{shipment['id']}")
    for event_id, status in (("t1", "in_transit"), ("t2", "delivered")):
        await handle.signal(ShipmentWorkflow.tracking_update,
                            TrackingEvent(event_id=event_id, status=status, occurred_at=datetime.now(UTC)))
    await temporal.get_workflow_handle(f"order-{done['order_id']}").result()
    async with engine.connect() as conn:
        (authorize,) = [op for op in await ledger.operations_for(conn, checkout["checkout_id"])
                        if op.kind == "authorize"]
    won = await _dispute(api, temporal, authorize.provider_ref, "won")
    lost = await _dispute(api, temporal, authorize.provider_ref, "lost")
    return {"fulfillment_delivered": f"order-{done['order_id']}", "shipment_delivered": f"shipment-{shipment['id']}",
            "dispute_won": won, "dispute_lost": lost,
            # Since the fulfillment-local-routing patch (fulfillment_delivered was recorded before it).
            "fulfillment_local_routing_delivered": f"order-{done['order_id']}"}


async def _dispute(api, temporal, payment_intent: str, outcome: str) -> str:
    """A dispute opened, funds withdrawn, then closed with ``outcome``; returns its workflow id."""
    dispute = {"id": f"dp_{uuid.uuid4().hex[:10]}", "payment_intent": payment_intent, "amount": 100,
               "currency": "usd", "reason": "fraudulent", "status": "needs_response"}
    await post_stripe(api, stripe_event("charge.dispute.created", dispute))
    await post_stripe(api, stripe_event("charge.dispute.funds_withdrawn", dispute))
    await post_stripe(api, stripe_event("charge.dispute.closed", {**dispute, "status": outcome}))
    await temporal.get_workflow_handle(f"dispute-{dispute['id']}").result()
    return f"dispute-{dispute['id']}"


async def scenario_returns_and_refunds(api, temporal, engine) -> dict[str, str]:
    from tests.integration.test_support_actions import delivered_order, refund

    done, (sku,) = await delivered_order(api, types.SimpleNamespace(client=temporal), engine, {1800: 2})
    assert (await refund(api, done["order_id"], {"amount": 300, "reason": "late"})).status_code == 200
    rma = (await api.post(f"/orders/{done['order_id']}/returns",
                          json={"lines": [{"sku": sku, "quantity": 1, "reason": "defective"}]})).json()
    await api.post(f"/returns/{rma['id']}/approve", json={})
    await api.post(f"/returns/{rma['id']}/receive")
    handle = temporal.get_workflow_handle(f"return-{rma['id']}")

    async def received():
        return await handle.query(ReturnWorkflow.state) == "received"

    assert await eventually(received)
    await api.post(f"/returns/{rma['id']}/inspect", json={"units": [{"sku": sku, "quantity": 1,
                                                                       "disposition": "scrap"}]})
    await handle.result()
    return {"return_refunded": f"return-{rma['id']}", "order_support_refund": f"support-{done['order_id']}"}


async def scenario_sign_in_link(api, temporal, engine) -> dict[str, str]:
    address = f"replay-{uuid.uuid4().hex[:6]}@example.com"
    customer = await api.post("/customers", json={"email": address, "password": "replayed passphrase"})
    minute = int(datetime.now(UTC).timestamp()) // 60
    assert (await api.post("/customers/sign-in-links", json={"email": address})).status_code == 202
    customer_id = customer.json()["customer"]["id"]
    for candidate in (minute, minute + 1):  # the minute may turn between our clock read and the API's
        workflow_id = workflow_ids.sign_in_link(customer_id, candidate)
        try:
            assert await temporal.get_workflow_handle(workflow_id).result() is True
            return {"sign_in_link_sent": workflow_id}
        except RPCError:
            continue
    raise AssertionError("no sign-in link workflow was started")


async def scenario_ops_alert_digest(api, temporal, engine) -> dict[str, str]:
    from models.ops_alerts import OpsAlertInput
    from workflows.ops_alerts import OpsAlertDigestWorkflow

    sku = await make_sku(engine, stock={await make_location(engine): 1})
    assert (await api.patch(f"/admin/inventory/{sku}", json={"reorder_point": 1})).status_code == 204
    workflow_id = f"ops-alert-digest-{uuid.uuid4().hex[:8]}"
    task_queue = api._transport.app.state.settings.task_queue  # this module's worker (the API's own settings)
    sent = await temporal.execute_workflow(OpsAlertDigestWorkflow.run, OpsAlertInput(
        recipient="ops@example.com", fraud_wait_seconds=3600), id=workflow_id, task_queue=task_queue)
    assert sent >= 1  # the low-stock SKU, and whatever earlier scenarios left waiting
    return {"ops_alert_digest_sent": workflow_id}


async def scenario_quote(api, temporal, engine) -> dict[str, str]:
    from db.tables import quotes

    cart_id = await cart_with(api, {await make_sku(engine, stock={await make_location(engine): 1}): 1})
    answered = await api.post(f"/carts/{cart_id}/quote", json={"shipping_address": ADDRESS})
    assert answered.status_code == 200, answered.text
    async with engine.connect() as conn:
        key = await conn.scalar(select(quotes.c.fingerprint).where(quotes.c.id == answered.json()["quote_id"]))
    return {"quote_answered": workflow_ids.quote(cart_id, key)}


async def scenario_draft_invoice(api, temporal, engine) -> dict[str, str]:
    from models.draft_orders import invoice_workflow_id

    sku = await make_sku(engine, stock={await make_location(engine): 5})
    draft = (await api.post("/draft-orders", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
        "lines": [{"sku": sku, "quantity": 1}], "email": "invoiced@example.com",
        "shipping_address": checkout_body("")["shipping_address"]})).json()
    assert (await api.post(f"/draft-orders/{draft['draft_id']}/send-invoice")).status_code == 200
    workflow_id = invoice_workflow_id(draft["draft_id"], draft["quote"]["quote_id"])
    assert await temporal.get_workflow_handle(workflow_id).result() == "sent"
    return {"draft_invoice_sent": workflow_id}


def test_every_workflow_type_has_a_saved_history():
    """A workflow type without a saved history has nothing pinning its shipped behaviour."""
    saved = {json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]
             ["name"] for path in HISTORIES.glob("*.json")}
    assert {workflow.__temporal_workflow_definition.name for workflow in WORKFLOWS} - saved == set()


@pytest.mark.parametrize("scenario", [scenario_checkouts, scenario_three_d_secure, scenario_fulfillment,
                                      scenario_returns_and_refunds, scenario_sign_in_link,
                                      scenario_ops_alert_digest, scenario_quote,
                                      scenario_draft_invoice],
                         ids=lambda f: f.__name__)
async def test_fresh_histories_replay(scenario, api, temporal_env, engine):
    for name, workflow_id in (await scenario(api, temporal_env.client, engine)).items():
        history = await temporal_env.client.get_workflow_handle(workflow_id).fetch_history()
        result = await replayer().replay_workflow(history)
        assert result.replay_failure is None, name
        target = HISTORIES / f"{name}.json"
        if os.environ.get("RECORD_HISTORIES") == "1" and not target.exists():
            target.write_text(history.to_json())
