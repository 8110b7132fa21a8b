"""The simulated outside world (simulate/): its events go through the real webhook routes, their
signature checks and the inbox, and move the workflows as the real providers' events do."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.local.card_network import CardNetwork
from config import Settings
from db import payments as ledger
from db.tables import local_card_intents, shipments
from models.errors import Conflict, DomainError
from simulate.carrier import advance_parcels
from simulate.webhooks import WebhookSender
from simulate.world import Simulator
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import (
    ADDRESS,
    STRIPE_SECRET,
    cart_with,
    checkout_to_end,
    eventually,
    order_with_shipments,
    post_stripe,
    refund,
    stripe_event,
)
from tests.integration.test_webhooks import signals_received, three_ds_checkout

EASYPOST_SECRET = "easypost-simulator-secret"
SCHEDULE = {"pre_transit": 1, "in_transit": 60, "out_for_delivery": 60, "delivered": 60}


@pytest.fixture(scope="module")
def settings(database_url, task_queue) -> Settings:
    return Settings(environment="test", database_url=database_url, task_queue=task_queue,
                    stripe_webhook_secret=STRIPE_SECRET, easypost_webhook_secret=EASYPOST_SECRET)


@pytest.fixture
def sender(api) -> WebhookSender:
    return WebhookSender(api, stripe_secret=STRIPE_SECRET, easypost_secret=EASYPOST_SECRET)


@pytest.fixture
def simulator(engine, sender) -> Simulator:
    return Simulator(engine, sender)


def answers(sent) -> list[str]:
    assert all(delivery.status_code == 200 for delivery in sent), [str(d) for d in sent]
    return [delivery.answer for delivery in sent]


async def shipped_parcel(api, temporal_env, engine, address=ADDRESS) -> tuple[dict, dict]:
    """An order whose one parcel is packed, labelled, captured and shipped."""
    sku = await make_sku(engine, stock={await make_location(engine): 4})
    done = await checkout_to_end(api, temporal_env.client, await cart_with(api, {sku: 1}),
                                 shipping_address=address)
    shipment = (await order_with_shipments(api, done["order_id"], 1))["shipments"][0]
    await api.post(f"/shipments/{shipment['id']}/packed")

    async def shipped():
        current = (await api.get(f"/orders/{done['order_id']}")).json()["shipments"][0]
        return current if current["status"] == "shipped" else None

    return done, await eventually(shipped)


async def order_status(api, order_id: str, wanted: str):
    async def probe():
        order = (await api.get(f"/orders/{order_id}")).json()
        return order if order["status"] == wanted else None

    return await eventually(probe)


async def delivered_order(api, order_id: str):
    """The order once the store recorded its parcel's delivery (the order itself stays fulfilled)."""
    async def probe():
        order = (await api.get(f"/orders/{order_id}")).json()
        return order if order["shipments"][0]["status"] == "delivered" else None

    return await eventually(probe)


# -- carrier -------------------------------------------------------------------------------------

async def test_deliver_goes_through_the_inbox_once_and_delivers_the_parcel(api, temporal_env, engine, simulator):
    done, shipment = await shipped_parcel(api, temporal_env, engine)
    assert answers(await simulator.tracking(shipment["id"], "in_transit")) == ['{"status":"signalled"}']
    assert answers(await simulator.deliver(shipment["id"])) == ['{"status":"signalled"}']
    assert answers(await simulator.deliver(shipment["id"])) == ['{"status":"duplicate"}']

    workflow_id = f"shipment-{shipment['id']}"
    assert await temporal_env.client.get_workflow_handle(workflow_id).result() == "delivered"
    assert await signals_received(temporal_env.client, workflow_id) == 3  # packed + 2 distinct events
    await temporal_env.client.get_workflow_handle(f"order-{done['order_id']}").result()
    order = await delivered_order(api, done["order_id"])
    assert order and "shipment.delivered" in [e["type"] for e in order["events"]]


async def test_tracking_before_the_label_is_refused(api, temporal_env, engine, simulator):
    sku = await make_sku(engine, stock={await make_location(engine): 4})
    done = await checkout_to_end(api, temporal_env.client, await cart_with(api, {sku: 1}))
    shipment = (await order_with_shipments(api, done["order_id"], 1))["shipments"][0]
    with pytest.raises(DomainError) as refused:
        await simulator.deliver(shipment["id"])
    assert refused.value.code == "shipment_not_labelled"


async def test_the_carrier_reports_on_its_schedule_once_each(api, temporal_env, engine, sender):
    done, shipment = await shipped_parcel(api, temporal_env, engine)
    shipped_at = await _shipped_at(engine, shipment["id"])

    early = await advance_parcels(engine, sender, SCHEDULE, now=shipped_at + timedelta(seconds=2))
    assert [(d.subject, d.event_type) for d in early if d.subject == shipment["id"]] == \
        [(shipment["id"], "tracker.updated pre_transit")]
    assert not [d for d in await advance_parcels(engine, sender, SCHEDULE, now=shipped_at + timedelta(seconds=2))
                if d.subject == shipment["id"]], "the inbox has it: never sent twice"

    later = await advance_parcels(engine, sender, SCHEDULE, now=shipped_at + timedelta(seconds=500))
    mine = [d for d in later if d.subject == shipment["id"]]
    assert [d.event_type for d in mine] == ["tracker.updated in_transit", "tracker.updated out_for_delivery",
                                            "tracker.updated delivered"]
    assert all(d.accepted for d in mine)
    assert await temporal_env.client.get_workflow_handle(f"shipment-{shipment['id']}").result() == "delivered"
    assert await delivered_order(api, done["order_id"])


async def test_an_update_the_api_refused_is_sent_again_before_the_later_ones(api, temporal_env, engine, sender):
    """The API down or refusing (here: a wrong secret, 400): nothing is lost and the order is kept."""
    done, shipment = await shipped_parcel(api, temporal_env, engine)
    late = (await _shipped_at(engine, shipment["id"])) + timedelta(days=1)
    refused_sender = WebhookSender(api, stripe_secret=STRIPE_SECRET, easypost_secret="not-the-api-secret")
    refused = [d for d in await advance_parcels(engine, refused_sender, SCHEDULE, now=late)
               if d.subject == shipment["id"]]
    assert [(d.event_type, d.status_code) for d in refused] == [("tracker.updated pre_transit", 400)]

    resent = [d for d in await advance_parcels(engine, sender, SCHEDULE, now=late) if d.subject == shipment["id"]]
    assert [d.event_type.split()[-1] for d in resent if d.accepted] == [
        "pre_transit", "in_transit", "out_for_delivery", "delivered"]
    assert await temporal_env.client.get_workflow_handle(f"shipment-{shipment['id']}").result() == "delivered"


async def test_a_test_address_meets_the_carrier_exception_and_is_never_delivered(api, temporal_env, engine, sender):
    done, shipment = await shipped_parcel(api, temporal_env, engine, {**ADDRESS, "line1": "1 Return To Sender Way"})
    shipped_at = await _shipped_at(engine, shipment["id"])
    sent = await advance_parcels(engine, sender, SCHEDULE, now=shipped_at + timedelta(days=1))
    assert [d.event_type for d in sent if d.subject == shipment["id"]] == [
        "tracker.updated pre_transit", "tracker.updated in_transit", "tracker.updated return_to_sender"]

    async def events_recorded():
        order = (await api.get(f"/orders/{done['order_id']}")).json()
        return order if order["shipments"][0]["status"] == "in_transit" else None

    order = await eventually(events_recorded)
    assert order["shipments"][0]["status"] == "in_transit"
    described = await temporal_env.client.get_workflow_handle(f"shipment-{shipment['id']}").describe()
    assert described.status.name == "RUNNING", "a parcel sent back is not delivered"


async def _shipped_at(engine, shipment_id: str):
    async with engine.connect() as conn:
        return (await conn.execute(select(shipments.c.shipped_at).where(shipments.c.id == shipment_id))).scalar_one()


# -- 3-D Secure ----------------------------------------------------------------------------------

async def test_a_completed_challenge_completes_the_checkout(api, temporal_env, engine, simulator):
    _, checkout_id, _ = await three_ds_checkout(api, engine)
    sent = await simulator.three_d_secure(checkout_id, succeed=True)
    assert [d.event_type for d in sent] == ["payment_intent.amount_capturable_updated"]
    assert answers(sent) == ['{"status":"signalled"}']
    assert answers(await simulator.three_d_secure(checkout_id, succeed=True)) == ['{"status":"duplicate"}']
    with pytest.raises(Conflict):
        await simulator.three_d_secure(checkout_id, succeed=False)

    result = await temporal_env.client.get_workflow_handle(f"checkout-{checkout_id}").result()
    assert result["status"] == "completed"
    async with engine.connect() as conn:
        kinds = {op.kind: op.status for op in await ledger.operations_for(conn, checkout_id)}
    assert kinds == {"authorize": "succeeded"}


async def test_a_failed_challenge_fails_the_checkout_and_voids_the_hold(api, temporal_env, engine, simulator):
    _, checkout_id, _ = await three_ds_checkout(api, engine)
    sent = await simulator.three_d_secure(checkout_id, succeed=False)
    assert [d.event_type for d in sent] == ["payment_intent.payment_failed"] and answers(sent)

    result = await temporal_env.client.get_workflow_handle(f"checkout-{checkout_id}").result()
    assert result["status"] == "failed" and result["error"]["code"] == "payment_declined"
    async with engine.connect() as conn:
        kinds = {op.kind: op.status for op in await ledger.operations_for(conn, checkout_id)}
    assert kinds["void"] == "succeeded"


async def test_a_webhook_without_the_card_holder_does_not_authorize(api, temporal_env, engine):
    """As at Stripe: a forged or early 'authenticated' event cannot make an unauthenticated intent capturable."""
    _, checkout_id, _ = await three_ds_checkout(api, engine)
    async with engine.connect() as conn:
        (authorize,) = [op for op in await ledger.operations_for(conn, checkout_id) if op.kind == "authorize"]
    await post_stripe(api, stripe_event("payment_intent.amount_capturable_updated", {"id": authorize.provider_ref}))

    result = await temporal_env.client.get_workflow_handle(f"checkout-{checkout_id}").result()
    assert result["status"] == "failed" and result["error"]["code"] == "payment_not_authorized"


# -- disputes and refunds ------------------------------------------------------------------------

async def test_a_dispute_opens_and_closes_won_then_lost(api, temporal_env, engine, simulator):
    done, shipment = await shipped_parcel(api, temporal_env, engine)  # shipped: the charge is captured
    order_id = done["order_id"]
    before = (await api.get(f"/orders/{order_id}")).json()["status"]
    with pytest.raises(DomainError) as nothing_open:
        await simulator.dispute(order_id, "won")
    assert nothing_open.value.code == "no_open_dispute"

    opened = await simulator.dispute(order_id, "open")
    assert [d.event_type for d in opened] == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
    assert answers(opened) == ['{"status":"dispute_recorded"}', '{"status":"dispute_funds_withdrawn"}']
    assert await order_status(api, order_id, "disputed")
    refused = await refund(api, order_id, {"amount": 100, "reason": "goodwill"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "order_disputed"

    won = await simulator.dispute(order_id, "won")
    assert [d.event_type for d in won] == ["charge.dispute.funds_reinstated", "charge.dispute.closed"]
    assert answers(won) == ['{"status":"dispute_funds_reinstated"}', '{"status":"dispute_won"}']
    assert await order_status(api, order_id, before)

    await simulator.dispute(order_id, "open")
    assert answers(await simulator.dispute(order_id, "lost")) == ['{"status":"dispute_lost"}']
    assert await order_status(api, order_id, "chargeback")


async def test_no_dispute_before_anything_is_captured(api, temporal_env, engine, simulator):
    sku = await make_sku(engine, stock={await make_location(engine): 4})
    done = await checkout_to_end(api, temporal_env.client, await cart_with(api, {sku: 1}))
    with pytest.raises(DomainError) as refused:
        await simulator.dispute(done["order_id"], "open")
    assert refused.value.code == "nothing_to_dispute"


async def test_a_failed_refund_returns_the_money_to_the_simulator_and_is_sent_once(api, temporal_env, engine,
                                                                                   simulator):
    done, shipment = await shipped_parcel(api, temporal_env, engine)
    refunded = await refund(api, done["order_id"], {"amount": 500, "reason": "goodwill"})
    assert refunded.status_code in (200, 201, 202), refunded.text

    async def refund_recorded():
        async with engine.connect() as conn:
            return [op for op in await ledger.operations_for(conn, done["checkout_id"])
                    if op.kind == "refund" and op.status == "succeeded"]

    (operation,) = await eventually(refund_recorded)
    sent = await simulator.refund_failed(done["order_id"])
    assert [d.event_type for d in sent] == ["refund.failed"] and sent[0].accepted
    assert answers(await simulator.refund_failed(done["order_id"])) == ['{"status":"duplicate"}']
    async with engine.connect() as conn:
        intent = (await conn.execute(select(local_card_intents.c.amount_refunded).where(
            local_card_intents.c.reference == done["checkout_id"]))).one()
    assert intent.amount_refunded == 0, "the bounced refund's money is back with the merchant"


async def test_the_card_network_refuses_what_stripe_refuses(engine):
    cards = CardNetwork(engine)
    with pytest.raises(DomainError) as missing:
        await cards.answer_challenge("lpi_nothing", succeeded=True)
    assert missing.value.code == "payment_intent_missing"
