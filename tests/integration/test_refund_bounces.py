"""A refund the provider accepted and later failed (Stripe's ``refund.failed``: the card was closed, the bank
sent it back). The customer never got the money, so the store must stop saying it refunded them.

The card simulator plays the bank (its books show the money back with the merchant, as Stripe's would) and
sends the signed event through the real webhook route."""

import pytest

from models.errors import DomainError
from simulate.webhooks import WebhookSender
from simulate.world import Simulator
from tests.integration.checkout_helpers import STRIPE_SECRET, delivered_order, post_stripe, refund, stripe_event
from tests.integration.test_webhooks import settings  # noqa: F401  (webhook secrets for this module)


@pytest.fixture
def bank(api, engine) -> Simulator:
    return Simulator(engine, WebhookSender(api, stripe_secret=STRIPE_SECRET, easypost_secret="unused"))


async def test_a_bounced_full_refund_reopens_the_order_and_asks_support(api, temporal_env, engine, bank):
    done, _ = await delivered_order(api, temporal_env, engine)
    order_id = done["order_id"]
    before = (await api.get(f"/orders/{order_id}")).json()
    issued = await refund(api, order_id, {"reason": "never arrived"})
    assert issued.status_code == 200 and issued.json()["order_status"] == "refunded", issued.text

    [sent] = await bank.refund_failed(order_id)
    assert sent.status_code == 200 and sent.answer == '{"status":"refund_bounced"}', str(sent)
    with pytest.raises(DomainError) as nothing_left:  # the ledger no longer counts it as made
        await bank.refund_failed(order_id)
    assert nothing_left.value.code == "no_such_refund"

    order = (await api.get(f"/orders/{order_id}")).json()
    assert order["status"] == before["status"]  # as before the refund: nothing is refunded any more
    events = {event["type"]: event for event in order["events"]}
    assert events["payment.refund_failed"]["data"]["refund_id"]
    assert events["order.alert"]["data"]["alert"].startswith("refund_bounced:")
    assert (await api.get(f"/orders/{order_id}/refunds")).json() == []  # lists refunds that reached the customer

    retried = await refund(api, order_id, {"reason": "never arrived: the first refund bounced"})
    assert retried.status_code == 200 and retried.json()["amount"] == issued.json()["amount"], retried.text
    assert retried.json()["order_status"] == "refunded"


async def test_a_bounce_of_an_unknown_refund_changes_nothing(api):
    event = stripe_event("refund.failed", {"id": "re_nobody_knows", "object": "refund", "amount": 100,
                                           "currency": "usd", "status": "failed", "failure_reason": "unknown"})
    answer = await post_stripe(api, event)
    assert answer.status_code == 200 and answer.json() == {"status": "unknown_refund"}
