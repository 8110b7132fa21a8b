"""Subscription sign-up saves the payment method with the provider in a workflow, not in the API request.

The provider call is an activity of ``subscription-signup-<id>`` (retried under one idempotency key,
visible in the Temporal UI); the API waits for its answer and records the subscription only after it.
"""

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.factories import make_location, make_sku
from tests.helpers import eventually
from tests.integration.checkout_helpers import ADDRESS
from worker import WORKFLOWS

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


def body(sku: str, payment_method: str = "pm_card_visa") -> dict:
    return {"email": "ada@example.com", "payment_method": payment_method, "shipping_address": ADDRESS,
            "lines": [{"sku": sku, "quantity": 1}], "interval": "monthly",
            "anchor_date": datetime.now(UTC).date().isoformat()}


async def activities_of(handle) -> list[str]:
    history = await handle.fetch_history()
    return [event.activity_task_scheduled_event_attributes.activity_type.name for event in history.events
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]


async def test_the_provider_customer_is_made_by_the_sign_up_workflow(api, temporal_env, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    created = await api.post("/subscriptions", json=body(sku), headers={"Idempotency-Key": str(uuid.uuid4())})
    assert created.status_code == 201, created.text

    handle = temporal_env.client.get_workflow_handle(f"subscription-signup-{created.json()['id']}")
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert await activities_of(handle) == ["create_payment_customer"]
    assert (await handle.result())["customer_ref"].startswith("lcus_")
    await _replays_and_is_kept("subscription_sign_up", await handle.fetch_history())


async def test_a_refused_card_fails_the_sign_up_workflow_with_its_code(api, temporal_env, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    key = str(uuid.uuid4())
    refused = await api.post("/subscriptions", json=body(sku, payment_method="card_123"),
                             headers={"Idempotency-Key": key})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_payment_method"

    signed_up = await api.post("/subscriptions", json=body(sku), headers={"Idempotency-Key": key})
    assert signed_up.status_code == 201, signed_up.text  # the refusal recorded nothing: the key is still free
    query = f"WorkflowId = 'subscription-signup-{signed_up.json()['id']}'"

    async def both_runs():  # visibility is eventually consistent
        runs = sorted([run.status.name async for run in temporal_env.client.list_workflows(query)])
        return runs if len(runs) == 2 else None

    assert await eventually(both_runs, what="both sign-up runs listed") == ["COMPLETED", "FAILED"]


async def _replays_and_is_kept(name: str, history: WorkflowHistory) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    assert (await replayer.replay_workflow(history)).replay_failure is None
    target = HISTORIES / f"{name}.json"
    if os.environ.get("RECORD_HISTORIES") == "1" and not target.exists():
        target.write_text(history.to_json())
