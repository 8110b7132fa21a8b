"""Our payment ledger enforces idempotency and limits even when the provider does not."""

import asyncio

import pytest

from activities.payments_service import PaymentService
from adapters.local.payment import LocalPaymentGateway
from db import payments as ledger
from models.errors import DomainError, PaymentDeclined
from models.payments import PaymentTotals, check_capture, check_refund


class CountingGateway(LocalPaymentGateway):
    """The local gateway, counting provider calls so tests can see replays skip the provider."""

    def __init__(self):
        super().__init__()
        self.calls: list[str] = []

    async def authorize(self, **kwargs):
        self.calls.append("authorize")
        return await super().authorize(**kwargs)

    async def refund(self, **kwargs):
        self.calls.append("refund")
        await asyncio.sleep(0)  # let concurrent refunds interleave at the provider
        return await super().refund(**kwargs)

    async def capture(self, **kwargs):
        self.calls.append("capture")
        return await super().capture(**kwargs)


@pytest.fixture
def gateway():
    return CountingGateway()


@pytest.fixture
def payments(engine, gateway):
    return PaymentService(engine, gateway)


async def authorized(payments, ref, amount=10_000):
    return await payments.authorize(ref, amount, "USD", "pm_card_visa", f"{ref}:authorize")


async def test_replayed_authorization_returns_the_recorded_result_without_calling_the_provider(payments, gateway):
    first = await authorized(payments, "pay-replay")
    again = await authorized(payments, "pay-replay")
    assert first == again
    assert gateway.calls == ["authorize"]


async def test_same_key_different_amount_is_a_conflict(payments):
    await authorized(payments, "pay-conflict", amount=500)
    with pytest.raises(DomainError) as conflict:
        await authorized(payments, "pay-conflict", amount=600)
    assert conflict.value.code == "idempotency_key_reused"


async def test_declines_are_recorded_and_replayed_as_declines(payments, gateway):
    for _ in range(2):
        with pytest.raises(PaymentDeclined):
            await payments.authorize("pay-decline", 100, "USD", "pm_card_chargeDeclined", "pay-decline:authorize")
    assert gateway.calls == ["authorize"]


async def test_capture_never_exceeds_the_authorization(payments):
    auth = await authorized(payments, "pay-capture", amount=1000)
    await payments.capture("pay-capture", auth, 600, "pay-capture:ship-1")
    with pytest.raises(DomainError) as refused:
        await payments.capture("pay-capture", auth, 500, "pay-capture:ship-2")
    assert refused.value.code == "capture_exceeds_authorized"
    await payments.capture("pay-capture", auth, 400, "pay-capture:ship-3")


async def test_concurrent_refunds_that_together_exceed_the_capture_let_exactly_one_through(payments, engine):
    auth = await authorized(payments, "pay-refund", amount=1000)
    await payments.capture("pay-refund", auth, 1000, "pay-refund:capture")

    async def attempt(i):
        try:
            await payments.refund("pay-refund", auth, 700, f"pay-refund:support-{i}")
            return "refunded"
        except DomainError as refused:
            return refused.code

    outcomes = await asyncio.gather(*(attempt(i) for i in range(5)))
    assert sorted(outcomes) == ["refund_exceeds_captured"] * 4 + ["refunded"]
    async with engine.connect() as conn:
        totals = await ledger.totals(conn, "pay-refund")
    assert totals.refunded == 700 and totals.refundable == 300


async def test_void_after_capture_is_refused(payments):
    auth = await authorized(payments, "pay-void", amount=1000)
    await payments.capture("pay-void", auth, 100, "pay-void:capture")
    with pytest.raises(DomainError) as refused:
        await payments.void("pay-void", auth, "pay-void:void")
    assert refused.value.code == "already_captured"


def test_limit_rules_are_pure():
    totals = PaymentTotals(authorized=1000, captured=400, refunded=100)
    assert (totals.capturable, totals.refundable) == (600, 300)
    check_capture(totals, 600)
    check_refund(totals, 300)
    with pytest.raises(DomainError):
        check_refund(totals, 301)
    with pytest.raises(DomainError):
        check_capture(PaymentTotals(authorized=1000, voided=True), 1)
    with pytest.raises(DomainError):
        check_refund(totals, 0)
