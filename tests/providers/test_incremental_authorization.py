"""Raising an authorization (order edits): the Stripe adapter against localstripe and the local simulator, which
must be no more permissive than Stripe."""

import uuid

import pytest

from adapters.local.payment import LocalPaymentGateway
from models.errors import DomainError


def key(step: str) -> str:
    return f"test:{uuid.uuid4().hex}:{step}"


async def _authorized(gateway, amount=5000):
    return await gateway.authorize(amount=amount, currency="USD", payment_method="pm_card_visa",
                                   idempotency_key=key("authorize"), reference=f"ref-{uuid.uuid4().hex}")


async def test_stripe_refuses_to_raise_an_intent_created_without_incremental_support(stripe_gateway):
    held = await _authorized(stripe_gateway)
    with pytest.raises(DomainError) as refused:
        await stripe_gateway.increment_authorization(provider_ref=held.provider_ref, amount=6000, currency="USD",
                                                     idempotency_key=key("increment"))
    assert refused.value.code == "incremental_authorization_unavailable"


async def test_the_simulator_raises_an_uncaptured_hold_and_replays_the_same_key():
    gateway = LocalPaymentGateway()
    held = await _authorized(gateway)
    raise_key = key("increment")
    raised = await gateway.increment_authorization(provider_ref=held.provider_ref, amount=6500, currency="USD",
                                                   idempotency_key=raise_key)
    again = await gateway.increment_authorization(provider_ref=held.provider_ref, amount=6500, currency="USD",
                                                  idempotency_key=raise_key)
    assert (raised.status, raised.amount) == (again.status, again.amount) == ("authorized", 6500)
    captured = await gateway.capture(provider_ref=held.provider_ref, amount=6500, currency="USD",
                                     idempotency_key=key("capture"))
    assert captured.amount == 6500


@pytest.mark.parametrize("case", ["captured", "lower", "unavailable"])
async def test_the_simulator_refuses_what_stripe_refuses(case):
    gateway = LocalPaymentGateway(incremental_available=case != "unavailable")
    held = await _authorized(gateway)
    if case == "captured":
        await gateway.capture(provider_ref=held.provider_ref, amount=1000, currency="USD", idempotency_key=key("c"),
                              final=False)
    with pytest.raises(DomainError):
        await gateway.increment_authorization(provider_ref=held.provider_ref, amount=4000 if case == "lower" else 6000,
                                              currency="USD", idempotency_key=key("increment"))
