"""The ops alert digest: new parcel alerts, fraud holds waiting too long and low stock, each mailed once."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment

from activities.ops_alerts import OpsAlertActivities
from config import Settings
from db import ops_alerts as store
from db import returns as return_store
from db.tables import ops_alert_digests, returns, shipments
from models.ids import public_id
from models.ops_alerts import OpsAlertInput
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import order_with_shipments, placed_order
from tests.integration.ops_helpers import make_fraud_hold
from workflows.ops_alerts import OpsAlertDigestWorkflow

REQUEST = OpsAlertInput(recipient="ops@example.com", fraud_wait_seconds=2 * 3600)


class RecordingSender:
    """Keeps what it was asked to send (a retried send with the same key is still a second send here)."""

    name = "recording"

    def __init__(self):
        self.sent = []

    async def send(self, message) -> str:
        self.sent.append(message)
        return f"<{message.idempotency_key}@test>"


@pytest.fixture(scope="module")
async def alerts(api, temporal_env, engine) -> dict:
    """A parcel with a carrier alert, a fraud hold 3 h old (and one 10 min old: not yet), a return request that
    expires undecided in 2 h (and one just made: not yet), a SKU at low stock."""
    done, (ordered,) = await placed_order(api, temporal_env, engine)
    shipment_id = (await order_with_shipments(api, done["order_id"], 1))["shipments"][0]["id"]
    expiring, fresh = public_id("return"), public_id("return")
    async with engine.begin() as conn:
        await conn.execute(update(shipments).where(shipments.c.id == shipment_id)
                           .values(alert="ship_failed:carrier_unavailable"))
        for rma_id in (expiring, fresh):
            await return_store.create(conn, rma_id=rma_id, order_id=done["order_id"], exchange=False,
                                      lines=[{"sku": ordered, "quantity": 1, "reason": "too_small"}])
        await conn.execute(update(returns).where(returns.c.id == expiring)
                           .values(created_at=datetime.now(UTC) - timedelta(days=13, hours=22)))
    old_hold, young_hold = await make_fraud_hold(engine, timedelta(hours=3)), await make_fraud_hold(engine, timedelta(minutes=10))
    sku = await make_sku(engine, stock={await make_location(engine): 2})
    assert (await api.patch(f"/admin/inventory/{sku}", json={"reorder_point": 2})).status_code == 204
    return {"shipment_id": shipment_id, "old_hold": old_hold, "young_hold": young_hold, "sku": sku,
            "expiring": expiring, "fresh": fresh}


async def test_a_digest_mails_each_new_item_once_and_a_retry_mails_the_same(engine, alerts):
    sender = RecordingSender()
    run = ActivityEnvironment().run
    activities = OpsAlertActivities(engine, sender)
    assert await run(activities.send_ops_alert_digest, REQUEST, "digest-1") == 4
    (message,) = sender.sent
    assert message.to == "ops@example.com" and message.idempotency_key == "ops:digest-1"
    for expected in (alerts["shipment_id"], "ship_failed:carrier_unavailable", alerts["old_hold"], alerts["sku"],
                     alerts["expiring"]):
        assert expected in message.text
    assert alerts["young_hold"] not in message.text  # waiting less than OPS_ALERT_FRAUD_WAIT_SECONDS
    assert alerts["fresh"] not in message.text  # 14 days left to decide
    assert await run(activities.send_ops_alert_digest, REQUEST, "digest-1") == 4  # a retry after the send
    assert len(sender.sent) == 1
    assert await run(activities.send_ops_alert_digest, REQUEST, "digest-2") == 0  # nothing new: no mail
    assert len(sender.sent) == 1


async def test_items_of_a_digest_that_never_went_out_come_again(engine, alerts):
    sku = await make_sku(engine, stock={await make_location(engine): 1})
    async with engine.begin() as conn:
        from db import inventory

        await inventory.set_reorder_point(conn, sku, 1)
        items = [i for i in await store.unnoticed(conn, now=datetime.now(UTC), fraud_wait=timedelta(hours=2))]
        await store.claim(conn, "digest-lost", items)  # claimed, then the run gave up before mailing
    sender = RecordingSender()
    assert await ActivityEnvironment().run(OpsAlertActivities(engine, sender).send_ops_alert_digest, REQUEST,
                                           "digest-3") == 1
    assert sku in sender.sent[0].text


async def test_the_workflow_sends_the_digest_under_its_own_id(temporal_env, task_queue, engine, alerts):
    await make_fraud_hold(engine, timedelta(hours=4))
    workflow_id = f"ops-alert-digest-{uuid.uuid4().hex[:8]}"
    sent = await temporal_env.client.execute_workflow(OpsAlertDigestWorkflow.run, REQUEST, id=workflow_id,
                                                      task_queue=task_queue)
    assert sent == 1
    async with engine.connect() as conn:
        digest = (await conn.execute(select(ops_alert_digests).where(ops_alert_digests.c.id == workflow_id))).one()
    assert digest.sent_at is not None and digest.message_id


async def test_the_schedule_follows_the_setting(temporal_env):
    from worker import OPS_ALERT_SCHEDULE_ID, ensure_ops_alert_schedule

    client: Client = temporal_env.client
    settings = Settings(environment="test", ops_alert_email="ops@example.com", ops_alert_interval_seconds=600,
                        task_queue="tq-ops-alert-schedule")
    await ensure_ops_alert_schedule(client, settings)
    await ensure_ops_alert_schedule(client, settings)  # a second worker starting: updates to the same
    described = await client.get_schedule_handle(OPS_ALERT_SCHEDULE_ID).describe()
    (interval,) = described.schedule.spec.intervals
    assert interval.every == timedelta(seconds=600)
    assert described.schedule.action.workflow == "OpsAlertDigestWorkflow"
    await ensure_ops_alert_schedule(client, Settings(environment="test"))  # the address removed: no digest
    await ensure_ops_alert_schedule(client, Settings(environment="test"))  # and a worker starting without one
    with pytest.raises(RPCError):
        await client.get_schedule_handle(OPS_ALERT_SCHEDULE_ID).describe()
