"""The checkout saga's compensations, with stand-in activities on the time-skipping server.

The stand-ins answer like the real activities (same names, same types) and record every call, so
the order in which the saga undoes its steps, and what it does when an undo step fails, are pinned
without a database or a provider.
"""

import uuid
from datetime import datetime, timedelta

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from models.commerce import (
    Address, CheckoutInput, CheckoutResult, OrderDraft, PaymentAuthorization, PreparedCheckout, PricedCart,
    PricedLine, Reservation, ReservedItem, ShippingRate, TaxQuote,
)
from tests.history_helpers import replays_and_is_kept
from workflows import search_attributes as sa
from workflows.checkout import CheckoutWorkflow

ADDRESS = Address(name="Ada", line1="1 Main St", city="San Francisco", region="CA", postal_code="94105",
                  country="US")
UNDO_STEPS = ["void_authorization", "release_reservation", "reopen_cart"]


class StandInSaga:
    """Every activity the checkout calls; ``broken`` undo steps fail (transiently or for good)."""

    def __init__(self, broken: dict[str, str] | None = None, order_recorded: bool = False):
        self.broken = broken or {}
        self.order_recorded = order_recorded  # what a look-up after an unanswered create_order finds
        self.calls: list[str] = []

    def _called(self, name: str) -> None:
        self.calls.append(name)
        how = self.broken.get(name)
        if how == "refused":
            raise ApplicationError(f"{name} refused", type="undo_refused", non_retryable=True)
        if how == "down" or (how == "down_10_minutes" and activity.info().attempt <= 70):
            raise RuntimeError(f"{name}: the database is unreachable")

    def activities(self) -> list:
        @activity.defn(name="prepare_checkout")
        async def prepare_checkout(checkout: CheckoutInput, now: datetime) -> PreparedCheckout:
            """Cart lock, pricing, quotes, (no fraud screening here) and the stock hold, in one."""
            self._called("prepare_checkout")
            priced = PricedCart(cart_id=checkout.cart_id, currency="USD", subtotal=1000, lines=[
                PricedLine(sku="TEE", title="Tee", quantity=1, unit_price=1000, line_subtotal=1000)])
            return PreparedCheckout(
                priced=priced, tax=TaxQuote(provider="local", currency="USD", lines=[], total=0),
                shipping=ShippingRate(provider="local", carrier="post", service=checkout.shipping_speed, amount=500,
                                      currency="USD", estimated_days=3),
                reservation=Reservation(reservation_key=checkout.checkout_id, expires_at=now + timedelta(minutes=15),
                                        items=[ReservedItem(sku="TEE", location_id="loc", quantity=1)]))

        @activity.defn(name="reserve_inventory")
        async def reserve_inventory(key: str, wanted: dict[str, int], now: datetime, ttl: int) -> Reservation:
            self._called("reserve_inventory")
            items = [ReservedItem(sku=sku, location_id="loc", quantity=n) for sku, n in wanted.items()]
            return Reservation(reservation_key=key, expires_at=now + timedelta(seconds=ttl), items=items)

        @activity.defn(name="authorize_payment")
        async def authorize_payment(payment_ref: str, amount: int, currency: str, payment_method: str,
                                    key: str) -> PaymentAuthorization:
            self._called("authorize_payment")
            return PaymentAuthorization(provider="local", authorization_id="pi_1", amount=amount, currency=currency)

        @activity.defn(name="create_order")
        async def create_order(draft: OrderDraft) -> str:
            self._called("create_order")
            raise ApplicationError("the promotion code was used up meanwhile", type="discount_code_exhausted",
                                   non_retryable=True)

        @activity.defn(name="void_authorization")
        async def void_authorization(payment_ref: str, authorization: PaymentAuthorization, key: str) -> None:
            self._called("void_authorization")

        @activity.defn(name="release_reservation")
        async def release_reservation(key: str) -> int:
            self._called("release_reservation")
            return 1

        @activity.defn(name="reopen_cart")
        async def reopen_cart(cart_id: str, checkout_id: str) -> None:
            self._called("reopen_cart")

        @activity.defn(name="order_recorded")
        async def order_recorded(checkout_id: str) -> bool:
            self._called("order_recorded")
            return self.order_recorded

        @activity.defn(name="fail_checkout")
        async def fail_checkout(checkout_id: str, code: str, message: str) -> None:
            self._called("fail_checkout")

        return [prepare_checkout, reserve_inventory, authorize_payment, create_order, order_recorded, void_authorization, release_reservation, reopen_cart, fail_checkout]


async def run_checkout(time_env, saga: StandInSaga, *, keep_history: str | None = None
                       ) -> tuple[CheckoutResult, str | None]:
    """Run one checkout to its end; returns its result and its CheckoutStatus search attribute.

    ``keep_history`` names a saved history: the run's history must replay, and with
    ``RECORD_HISTORIES=1`` it is saved under tests/histories/ unless one exists."""
    queue = f"saga-{uuid.uuid4().hex[:8]}"
    checkout = CheckoutInput(checkout_id=f"chk_{uuid.uuid4().hex[:8]}", order_id="ord_1", cart_id="cart_1",
                             email="ada@example.com", shipping_address=ADDRESS, payment_method="pm_card_visa",
                             fraud=None)
    async with Worker(time_env.client, task_queue=queue, workflows=[CheckoutWorkflow],
                      activities=saga.activities()):
        handle = await time_env.client.start_workflow(
            CheckoutWorkflow.run, checkout, id=f"checkout-{checkout.checkout_id}", task_queue=queue,
            execution_timeout=timedelta(days=1))  # hang guard in server time
        result = await handle.result()
        status = (await handle.describe()).typed_search_attributes.get(sa.CHECKOUT_STATUS)
        if keep_history:
            await replays_and_is_kept(await handle.fetch_history(), keep_history)
    return result, status



async def test_a_failed_checkout_undoes_its_steps_newest_first(time_env):
    saga = StandInSaga()
    result, status = await run_checkout(time_env, saga)

    assert result.status == "failed" and result.error.code == "discount_code_exhausted"
    assert saga.calls[saga.calls.index("create_order"):] == ["create_order", *UNDO_STEPS, "fail_checkout"]
    assert status == "failed"


@pytest.mark.parametrize("how", ["refused", "down"])
@pytest.mark.parametrize("broken_step", UNDO_STEPS)
async def test_one_failed_compensation_does_not_stop_the_others(time_env, broken_step, how):
    """'down' fails transiently for the compensation's whole one-hour budget; 'refused' fails for good."""
    saga = StandInSaga({broken_step: how})
    kept = "checkout_compensation_failed" if (broken_step, how) == ("void_authorization", "down") else None
    result, status = await run_checkout(time_env, saga, keep_history=kept)

    undo_calls = [name for name in saga.calls if name in UNDO_STEPS]
    assert list(dict.fromkeys(undo_calls)) == UNDO_STEPS, "every compensation ran, in order"
    if how == "down":
        assert undo_calls.count(broken_step) > 1, "a transient failure was retried"
    assert result.status == "failed" and result.error.code == "discount_code_exhausted"
    assert saga.calls[-1] == "fail_checkout", "the checkout row is settled (and frees its capacity slot)"
    assert status == "compensation_failed", "ops can find what was left undone"


async def test_settling_the_checkout_row_outlasts_a_database_outage(time_env):
    """The failed checkout must leave `pending` (it holds a MAX_INFLIGHT_CHECKOUTS slot until then)."""
    saga = StandInSaga({"fail_checkout": "down_10_minutes"})  # twice the five-minute budget of a forward step
    result, status = await run_checkout(time_env, saga)

    assert result.status == "failed" and status == "failed"
    assert saga.calls.count("fail_checkout") == 71


async def test_settling_that_fails_for_good_ends_the_checkout_failed_with_an_alert(time_env):
    saga = StandInSaga({"fail_checkout": "refused"})
    result, status = await run_checkout(time_env, saga)

    assert result.status == "failed" and result.error.code == "discount_code_exhausted"
    assert status == "compensation_failed"


async def test_an_unanswered_preparation_is_undone_all_the_same(time_env):
    """prepare_checkout may have locked the cart and held stock before its answer was lost: both undos run."""
    saga = StandInSaga({"prepare_checkout": "down"})
    result, _ = await run_checkout(time_env, saga)

    assert result.status == "failed" and result.error.code == "checkout_unavailable"
    assert saga.calls.count("prepare_checkout") > 1, "retried within its budget"
    assert saga.calls[saga.calls.index("prepare_checkout"):][-3:] == ["release_reservation", "reopen_cart",
                                                                       "fail_checkout"]


@pytest.mark.parametrize("recorded", [True, False])
async def test_an_unanswered_create_order_is_looked_up_before_compensating(time_env, recorded):
    """create_order may have committed before its answer was lost: a recorded order is not voided away."""
    saga = StandInSaga({"create_order": "down"}, order_recorded=recorded)
    result, status = await run_checkout(time_env, saga, keep_history="checkout_order_unanswered" if recorded else None)

    assert saga.calls.count("order_recorded") == 1
    if recorded:
        assert (result.status, result.order_id, status) == ("completed", "ord_1", "completed")
        assert not set(UNDO_STEPS) & set(saga.calls)
    else:
        assert (result.status, result.error.code) == ("failed", "checkout_unavailable")
        assert saga.calls[-4:] == [*UNDO_STEPS, "fail_checkout"]
