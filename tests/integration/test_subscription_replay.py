"""Subscription histories, fresh and saved, replay against today's workflow code.

Runs of one subscription are chained by continue-as-new: a renewal run ends in it, the next run
starts from its carried state. ``RECORD_HISTORIES=1`` saves the fresh ones under tests/histories/
(existing files are kept), where ``test_replay.test_saved_history_replays`` replays them from then on.
"""

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.factories import make_location, make_sku, make_subscription_plan
from tests.integration.checkout_helpers import ADDRESS
from tests.integration.checkout_helpers import eventually
from worker import WORKFLOWS

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


async def _subscribe(api, engine, payment_method: str) -> str:
    sku = await make_sku(engine, stock={await make_location(engine): 10})
    created = await api.post("/subscriptions", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
        "email": "ada@example.com", "payment_method": payment_method, "shipping_address": ADDRESS,
        "lines": [{"sku": sku, "quantity": 1}], "interval": "weekly",
        "anchor_date": datetime.now(UTC).date().isoformat(),
        "plan_id": await make_subscription_plan(engine, discount_bp=500)})
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def _runs(temporal, workflow_id: str, count: int) -> list[str]:
    """Run ids of the workflow's first ``count`` runs, once that many exist (oldest first)."""
    async def probe():
        runs, run_id = [], (await temporal.get_workflow_handle(workflow_id).describe()).raw_description \
            .workflow_execution_info.first_run_id
        while run_id:
            runs.append(run_id)
            history = await temporal.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            last = history.events[-1]
            run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                      if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW else None)
        return runs if len(runs) >= count else None

    runs = await eventually(probe, 30)
    assert runs, f"{workflow_id} never reached run {count}"
    return runs[:count]


async def scenario_customer_actions(api, temporal, engine) -> dict[str, tuple[str, str]]:
    """Renew, continue-as-new, then pause, skip, change, resume and cancel in the second run."""
    subscription_id = await _subscribe(api, engine, "pm_card_visa")
    workflow_id = f"subscription-{subscription_id}"
    first, second = await _runs(temporal, workflow_id, 2)
    for path, payload in (("pause", {}), ("skip", None), ("resume", None), ("cancel", {})):
        answered = await api.post(f"/subscriptions/{subscription_id}/{path}", json=payload)
        assert answered.status_code == 200, answered.text
        if path == "skip":
            changed = await api.patch(f"/subscriptions/{subscription_id}", json={"interval": "monthly"})
            assert changed.status_code == 200, changed.text
    assert await temporal.get_workflow_handle(workflow_id, run_id=second).result() == "cancelled"
    return {"subscription_renewed": (workflow_id, first), "subscription_actions_cancelled": (workflow_id, second)}


async def scenario_dunning(api, temporal, engine) -> dict[str, tuple[str, str]]:
    """A declined renewal, then a new card: retried at once, renewed, continued-as-new."""
    subscription_id = await _subscribe(api, engine, "pm_card_chargeDeclined")
    workflow_id = f"subscription-{subscription_id}"

    async def declined():
        return (await api.get(f"/subscriptions/{subscription_id}")).json()["dunning"]

    assert await eventually(declined)
    updated = await api.post(f"/subscriptions/{subscription_id}/payment-method",
                             json={"payment_method": "pm_card_visa"})
    assert updated.status_code == 200, updated.text
    (first, _) = await _runs(temporal, workflow_id, 2)
    return {"subscription_dunning_recovered": (workflow_id, first)}


async def test_fresh_subscription_histories_replay(api, temporal_env, engine):
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    runs = {**await scenario_customer_actions(api, temporal_env.client, engine),
            **await scenario_dunning(api, temporal_env.client, engine)}
    for name, (workflow_id, run_id) in runs.items():
        history = await temporal_env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        result = await replayer.replay_workflow(history)
        assert result.replay_failure is None, name
        target = HISTORIES / f"{name}.json"
        if os.environ.get("RECORD_HISTORIES") == "1" and not target.exists():
            target.write_text(history.to_json())
