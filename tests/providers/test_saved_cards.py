"""Charging a card again after checkout: the local simulator refuses what Stripe refuses (a Stripe.js card used
once without a customer), and keeps a card saved for a customer usable for that customer only."""

import uuid

import pytest

from adapters.local.payment import LocalPaymentGateway
from models.errors import DomainError
from tests.integration.checkout_helpers import stripe_js_card


def key(step: str) -> str:
    return f"test:{uuid.uuid4().hex}:{step}"


@pytest.fixture(params=["memory", "postgres"])
def simulator(request):
    """Both stores of the simulator: in-process, and PostgreSQL (the worker's)."""
    if request.param == "memory":
        return LocalPaymentGateway()
    return LocalPaymentGateway(engine=request.getfixturevalue("engine"))


async def hold(gateway, card: str, **customer):
    return await gateway.authorize(amount=5000, currency="USD", payment_method=card, idempotency_key=key("authorize"),
                                   reference=f"ref-{uuid.uuid4().hex}", **customer)


async def test_a_stripe_js_card_used_without_a_customer_is_refused_the_second_time(simulator):
    card = stripe_js_card()
    assert (await hold(simulator, card)).status == "authorized"

    with pytest.raises(DomainError) as refused:
        await hold(simulator, card)

    assert refused.value.code == "payment_invalid_request"
    assert "may not be used again" in refused.value.message


async def test_a_test_token_is_a_new_card_each_time_as_at_stripe(simulator):
    first, second = await hold(simulator, "pm_card_visa"), await hold(simulator, "pm_card_visa")
    assert first.status == second.status == "authorized"


async def test_a_refused_reuse_replays_its_refusal_under_the_same_key(simulator):
    card, again = stripe_js_card(), key("authorize")
    await hold(simulator, card)
    call = {"amount": 5000, "currency": "USD", "payment_method": card, "idempotency_key": again, "reference": "r"}
    for _ in range(2):
        with pytest.raises(DomainError, match="may not be used again"):
            await simulator.authorize(**call)
