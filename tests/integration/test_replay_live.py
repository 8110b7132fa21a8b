"""deploy/replay_live.py: the pre-deploy gate replays running workflows on the code about to ship."""

from datetime import timedelta

import pytest
from temporalio import workflow

import worker
from deploy.replay_live import replay_live
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import cart_with, checkout_body, eventually, start_checkout
from workflows.checkout import CheckoutWorkflow


@workflow.defn(name="CheckoutWorkflow", sandboxed=False)
class ReorderedCheckout:
    """A change shipped without patched(): waits first, where the real one schedules its first activity."""

    @workflow.run
    async def run(self, checkout: dict) -> None:
        await workflow.sleep(timedelta(hours=1))


@pytest.fixture
async def waiting_checkout(api, temporal_env, engine) -> str:
    """A checkout paused for 3-D Secure: running, with activities already in its history."""
    sku = await make_sku(engine, price=1200, stock={await make_location(engine): 2})
    started = await start_checkout(api, checkout_body(await cart_with(api, {sku: 1}),
                                                      payment_method="pm_card_authenticationRequired"))
    workflow_id = f"checkout-{started.json()['checkout_id']}"
    handle = temporal_env.client.get_workflow_handle(workflow_id)

    async def waiting_for_card_holder():
        return await handle.query(CheckoutWorkflow.current_step) == "requires_action"

    assert await eventually(waiting_for_card_holder)
    return workflow_id


async def test_running_workflows_replay_on_this_build(temporal_env, waiting_checkout):
    assert await replay_live(temporal_env.client, f"WorkflowId = '{waiting_checkout}'") == (1, {})


async def test_a_change_that_breaks_running_workflows_is_reported(temporal_env, waiting_checkout, monkeypatch):
    monkeypatch.setattr(worker, "WORKFLOWS", [ReorderedCheckout])
    replayed, failures = await replay_live(temporal_env.client, f"WorkflowId = '{waiting_checkout}'")
    assert replayed == 1 and list(failures) == [waiting_checkout] and "Nondeterminism" in failures[waiting_checkout]
