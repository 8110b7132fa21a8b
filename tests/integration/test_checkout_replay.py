"""Replay checkout histories against today's workflow code.

Saved histories under tests/histories/ pin the behaviour of shipped code: a change that
would break running workflows fails here (change workflow code behind
``workflow.patched()`` instead). ``RECORD_HISTORIES=1 pytest this_file`` re-records them.
"""

import os
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import cart_with, checkout_body, finished_checkout, start_checkout
from worker import WORKFLOWS

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
SCENARIOS = {
    "checkout_completed": {"payment_method": "pm_card_visa", "quantity": 2, "on_hand": 5},
    "checkout_declined": {"payment_method": "pm_card_chargeDeclined", "quantity": 1, "on_hand": 5},
    "checkout_out_of_stock": {"payment_method": "pm_card_visa", "quantity": 3, "on_hand": 1},
}


def replayer() -> Replayer:
    return Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_saved_history_replays(name):
    path = HISTORIES / f"{name}.json"
    history = WorkflowHistory.from_json(name, path.read_text())
    result = await replayer().replay_workflow(history)
    assert result.replay_failure is None


async def _run_scenario(api, temporal, engine, scenario) -> tuple[str, str]:
    loc = await make_location(engine)
    sku = await make_sku(engine, price=1999, stock={loc: scenario["on_hand"]})
    cart_id = await cart_with(api, {sku: scenario["quantity"]})
    started = await start_checkout(api, checkout_body(cart_id, payment_method=scenario["payment_method"]))
    checkout_id = started.json()["checkout_id"]
    await finished_checkout(api, temporal, checkout_id)
    history = await temporal.get_workflow_handle(f"checkout-{checkout_id}").fetch_history()
    return checkout_id, history.to_json()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_fresh_history_replays(name, api, temporal_env, engine):
    workflow_id, history_json = await _run_scenario(api, temporal_env.client, engine, SCENARIOS[name])
    result = await replayer().replay_workflow(WorkflowHistory.from_json(workflow_id, history_json))
    assert result.replay_failure is None
    if os.environ.get("RECORD_HISTORIES") == "1":
        (HISTORIES / f"{name}.json").write_text(history_json)
