"""The local card simulator refuses what Stripe refuses, and remembers it across a restart (PostgreSQL)."""

import uuid

import pytest

from adapters.local.payment import LocalPaymentGateway
from models.errors import Conflict, DomainError, PaymentDeclined


@pytest.fixture(params=["postgres", "memory"])
def gateway(request, engine):
    """Both stores keep the same rules; only the PostgreSQL one survives a restart."""
    return LocalPaymentGateway(engine=engine if request.param == "postgres" else None,
                               request_multicapture=False)


def key(step: str) -> str:
    return f"chk_{uuid.uuid4().hex[:10]}:{step}"


async def hold(gateway, amount=5000, method="pm_card_visa"):
    return await gateway.authorize(amount=amount, currency="USD", payment_method=method,
                                   idempotency_key=key("authorize"), reference="chk_sim")


async def capture(gateway, ref, amount, final=True):
    return await gateway.capture(provider_ref=ref, amount=amount, currency="USD", idempotency_key=key("capture"),
                                 final=final)


def refused_as(error, provider_code: str) -> bool:
    return error.code == "payment_invalid_request" and error.details["provider_code"] == provider_code


async def test_an_intent_is_captured_once_and_a_partial_capture_releases_the_rest(gateway):
    auth = await hold(gateway)
    assert (auth.status, auth.multicapture) == ("authorized", False)
    assert (await capture(gateway, auth.provider_ref, 3000)).status == "captured"
    with pytest.raises(DomainError) as second:
        await capture(gateway, auth.provider_ref, 2000)
    assert refused_as(second.value, "payment_intent_unexpected_state")
    now = await gateway.retrieve(provider_ref=auth.provider_ref)
    assert (now.status, now.amount) == ("captured", 3000)  # the other 2000 went back to the card


async def test_final_capture_false_needs_multicapture(gateway):
    auth = await hold(gateway)
    with pytest.raises(DomainError) as refused:
        await capture(gateway, auth.provider_ref, 1000, final=False)
    assert refused_as(refused.value, "parameter_unknown")


async def test_multicapture_captures_in_parts_until_the_final_one(engine):
    gateway = LocalPaymentGateway(engine=engine, request_multicapture=True, multicapture_available=True)
    auth = await hold(gateway, amount=5000)
    assert auth.multicapture
    await capture(gateway, auth.provider_ref, 1000, final=False)
    await capture(gateway, auth.provider_ref, 1500, final=False)
    await capture(gateway, auth.provider_ref, 500, final=True)  # releases the last 2000
    with pytest.raises(DomainError) as after_final:
        await capture(gateway, auth.provider_ref, 100)
    assert refused_as(after_final.value, "payment_intent_unexpected_state")
    assert (await gateway.retrieve(provider_ref=auth.provider_ref)).amount == 3000


async def test_multicapture_requested_but_not_available_is_single_capture(engine):
    gateway = LocalPaymentGateway(engine=engine, request_multicapture=True, multicapture_available=False)
    auth = await hold(gateway)
    assert not auth.multicapture
    with pytest.raises(DomainError):
        await capture(gateway, auth.provider_ref, 1000, final=False)


async def test_capture_more_than_authorized_is_refused(gateway):
    auth = await hold(gateway, amount=1000)
    with pytest.raises(DomainError) as refused:
        await capture(gateway, auth.provider_ref, 1001)
    assert refused_as(refused.value, "amount_too_large")


async def test_capture_after_void_and_void_after_capture_are_refused(gateway):
    voided = await hold(gateway)
    await gateway.void(provider_ref=voided.provider_ref, idempotency_key=key("void"))
    with pytest.raises(DomainError) as capture_after_void:
        await capture(gateway, voided.provider_ref, 100)
    assert refused_as(capture_after_void.value, "payment_intent_unexpected_state")

    captured = await hold(gateway)
    await capture(gateway, captured.provider_ref, 5000)
    with pytest.raises(DomainError) as void_after_capture:
        await gateway.void(provider_ref=captured.provider_ref, idempotency_key=key("void"))
    assert refused_as(void_after_capture.value, "payment_intent_unexpected_state")


async def test_refund_more_than_captured_is_refused(gateway):
    auth = await hold(gateway)
    with pytest.raises(DomainError):  # nothing captured yet
        await gateway.refund(provider_ref=auth.provider_ref, amount=100, currency="USD", idempotency_key=key("r0"))
    await capture(gateway, auth.provider_ref, 3000)
    await gateway.refund(provider_ref=auth.provider_ref, amount=2000, currency="USD", idempotency_key=key("r1"))
    with pytest.raises(DomainError) as refused:
        await gateway.refund(provider_ref=auth.provider_ref, amount=1001, currency="USD", idempotency_key=key("r2"))
    assert refused_as(refused.value, "amount_too_large")


async def test_same_key_replays_the_first_answer_and_a_different_body_is_refused(gateway):
    auth = await hold(gateway, amount=5000)
    capture_key = key("capture")
    first = await gateway.capture(provider_ref=auth.provider_ref, amount=2000, currency="USD",
                                  idempotency_key=capture_key)
    again = await gateway.capture(provider_ref=auth.provider_ref, amount=2000, currency="USD",
                                  idempotency_key=capture_key)  # a retry after a lost answer: not a 2nd capture
    assert (again.provider_ref, again.status, again.amount) == (first.provider_ref, "captured", 2000)
    with pytest.raises(Conflict) as reused:
        await gateway.capture(provider_ref=auth.provider_ref, amount=2500, currency="USD",
                              idempotency_key=capture_key)
    assert reused.value.code == "idempotency_key_reused"


async def test_a_decline_is_replayed_under_its_key(gateway):
    decline_key = key("authorize")
    for _ in range(2):
        with pytest.raises(PaymentDeclined):
            await gateway.authorize(amount=100, currency="USD", payment_method="pm_card_chargeDeclined",
                                    idempotency_key=decline_key, reference="chk_declined")
    assert await gateway.lookup(kind="authorize", idempotency_key=decline_key, reference="chk_declined") is None


async def test_lookup_answers_what_was_done_under_a_key(gateway):
    auth_key = key("authorize")
    assert await gateway.lookup(kind="authorize", idempotency_key=auth_key, reference="chk_l") is None
    auth = await gateway.authorize(amount=900, currency="USD", payment_method="pm_card_visa",
                                   idempotency_key=auth_key, reference="chk_l")
    found = await gateway.lookup(kind="authorize", idempotency_key=auth_key, reference="chk_l")
    assert (found.provider_ref, found.status, found.amount) == (auth.provider_ref, "authorized", 900)
    await gateway.void(provider_ref=auth.provider_ref, idempotency_key=key("void"))
    assert (await gateway.lookup(kind="authorize", idempotency_key=auth_key, reference="chk_l")).status == "voided"


async def test_state_survives_a_restart(engine):
    before = LocalPaymentGateway(engine=engine, request_multicapture=False)
    auth = await hold(before)
    await capture(before, auth.provider_ref, 1000)
    after = LocalPaymentGateway(engine=engine, request_multicapture=False)  # a new worker process
    with pytest.raises(DomainError) as second:
        await capture(after, auth.provider_ref, 1000)
    assert refused_as(second.value, "payment_intent_unexpected_state")
