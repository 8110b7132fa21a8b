"""Disputes from the Stripe webhook to the order: any charge we know, opened → won / lost, no refund on top."""

import uuid

from db import payments as ledger
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import (
    cart_with,
    checkout_to_end,
    delivered,
    eventually,
    order_with_shipments,
    post_stripe,
    refund,
    stripe_event,
    workflow_result,
)
from tests.integration.test_subscriptions_api import body, create, first_renewal
from tests.integration.test_webhooks import settings  # noqa: F401  (webhook secrets for this module)
from workflows.shipment import ShipmentWorkflow


def dispute_object(dispute_id: str, payment_intent: str, **fields) -> dict:
    return {"id": dispute_id, "object": "dispute", "payment_intent": payment_intent, "amount": 1000,
            "currency": "usd", "reason": "fraudulent", "status": "needs_response", **fields}


async def renewal_order(api, engine) -> tuple[str, str]:
    """A subscription renewal order (paid by an off-session ``charge``) and its charge's provider id."""
    sku = await make_sku(engine, price=2000, stock={await make_location(engine): 5})
    subscription = await first_renewal(api, (await create(api, body(sku))).json()["id"])
    (renewal,) = subscription["renewals"]
    async with engine.connect() as conn:
        (charge,) = await ledger.operations_for(conn, f"{subscription['id']}:cycle-1")
    assert charge.kind == "charge" and charge.provider_ref
    return renewal["order_id"], charge.provider_ref


async def checkout_order(api, temporal_env, engine) -> tuple[str, str]:
    sku = await make_sku(engine, stock={await make_location(engine): 4})
    done = await checkout_to_end(api, temporal_env.client, await cart_with(api, {sku: 1}))
    async with engine.connect() as conn:
        (authorize,) = [op for op in await ledger.operations_for(conn, done["checkout_id"]) if op.kind == "authorize"]
    return done["order_id"], authorize.provider_ref


async def order_status(api, order_id: str, wanted: str) -> str:
    async def probe():
        status = (await api.get(f"/orders/{order_id}")).json()["status"]
        return status if status == wanted else None

    return await eventually(probe) or (await api.get(f"/orders/{order_id}")).json()["status"]


async def test_a_dispute_on_a_renewal_charge_marks_its_order_and_refuses_refunds(api, temporal_env, engine):
    order_id, payment_intent = await renewal_order(api, engine)
    dispute_id = f"dp_{uuid.uuid4().hex[:10]}"

    opened = await post_stripe(api, stripe_event("charge.dispute.created", dispute_object(dispute_id, payment_intent)))
    assert opened.json() == {"status": "dispute_recorded"}
    assert await order_status(api, order_id, "disputed") == "disputed"

    refused = await refund(api, order_id, {"amount": 500, "reason": "customer asked"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "order_disputed"
    assert (await api.get(f"/orders/{order_id}/refunds")).json() == []


async def test_a_won_dispute_puts_the_order_back_once(api, temporal_env, engine):
    order_id, payment_intent = await checkout_order(api, temporal_env, engine)
    before = (await api.get(f"/orders/{order_id}")).json()["status"]
    dispute_id = f"dp_{uuid.uuid4().hex[:10]}"
    await post_stripe(api, stripe_event("charge.dispute.created", dispute_object(dispute_id, payment_intent)))
    assert await order_status(api, order_id, "disputed") == "disputed"

    closed = stripe_event("charge.dispute.closed", dispute_object(dispute_id, payment_intent, status="won"))
    assert (await post_stripe(api, closed)).json() == {"status": "dispute_won"}
    assert (await post_stripe(api, closed)).json() == {"status": "duplicate"}
    assert await workflow_result(temporal_env.client, f"dispute-{dispute_id}") == before
    again = stripe_event("charge.dispute.closed", dispute_object(dispute_id, payment_intent, status="won"))
    assert (await post_stripe(api, again)).json() == {"status": "dispute_closed"}  # a new event id, same news

    order = (await api.get(f"/orders/{order_id}")).json()
    assert order["status"] == before
    assert [e["type"] for e in order["events"]].count("payment.dispute_closed") == 1
    description = await temporal_env.client.get_workflow_handle(f"dispute-{dispute_id}").describe()
    assert (await description.memo())["outcome"] == "won"


async def test_a_lost_dispute_is_a_chargeback_and_refunds_stay_refused(api, temporal_env, engine):
    order_id, payment_intent = await renewal_order(api, engine)
    dispute_id = f"dp_{uuid.uuid4().hex[:10]}"
    # Stripe may tell us the funds left before we saw the dispute open: either starts the workflow.
    withdrawn = stripe_event("charge.dispute.funds_withdrawn", dispute_object(dispute_id, payment_intent))
    assert (await post_stripe(api, withdrawn)).json() == {"status": "dispute_funds_withdrawn"}
    await post_stripe(api, stripe_event("charge.dispute.created", dispute_object(dispute_id, payment_intent)))
    lost = stripe_event("charge.dispute.closed", dispute_object(dispute_id, payment_intent, status="lost"))
    assert (await post_stripe(api, lost)).json() == {"status": "dispute_lost"}

    assert await workflow_result(temporal_env.client, f"dispute-{dispute_id}") == "chargeback"
    order = (await api.get(f"/orders/{order_id}")).json()
    assert order["status"] == "chargeback"
    types = [e["type"] for e in order["events"]]
    assert types.count("payment.disputed") == 1 and types.count("payment.dispute_funds_withdrawn") == 1
    refused = await refund(api, order_id, {"amount": 500, "reason": "customer asked"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "order_disputed", refused.text


async def test_a_dispute_on_a_charge_we_do_not_know_is_answered_and_ignored(api, temporal_env, engine):
    unknown = stripe_event("charge.dispute.closed", dispute_object("dp_nobody", "pi_nobody", status="lost"))
    assert (await post_stripe(api, unknown)).json() == {"status": "unknown_payment"}


async def test_a_parcel_ships_during_a_dispute_and_a_loss_still_charges_the_order_back(api, temporal_env, engine):
    order_id, payment_intent = await renewal_order(api, engine)
    dispute_id = f"dp_{uuid.uuid4().hex[:10]}"
    await post_stripe(api, stripe_event("charge.dispute.created", dispute_object(dispute_id, payment_intent)))
    assert await order_status(api, order_id, "disputed") == "disputed"

    shipment = (await order_with_shipments(api, order_id, 1))["shipments"][0]
    assert (await api.post(f"/shipments/{shipment['id']}/packed")).status_code == 202
    await temporal_env.client.get_workflow_handle(f"shipment-{shipment['id']}").signal(
        ShipmentWorkflow.tracking_update, delivered(f"d-{shipment['id']}"))
    assert await workflow_result(temporal_env.client, f"order-{order_id}") == "delivered"
    assert (await api.get(f"/orders/{order_id}")).json()["status"] == "fulfilled"

    lost = stripe_event("charge.dispute.closed", dispute_object(dispute_id, payment_intent, status="lost"))
    assert (await post_stripe(api, lost)).json() == {"status": "dispute_lost"}
    assert await workflow_result(temporal_env.client, f"dispute-{dispute_id}") == "chargeback"
    refused = await refund(api, order_id, {"amount": 500, "reason": "customer asked"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "order_disputed", refused.text
