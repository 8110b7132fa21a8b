"""Checkout under faults: every activity, in every fault mode; the money invariants hold afterwards."""

from dataclasses import replace
from datetime import timedelta

import pytest

from sqlalchemy import func, select

from activities.sweeper import sweep_once
from config import Settings
from db import money_invariants as gather
from db.tables import reservations
from models.money_invariants import violations
from workflows import search_attributes as sa
from tests.faults.flows import finished, start_stack, stocked_sku, views
from tests.faults.harness import MODES, FaultInjector
from tests.integration.checkout_helpers import cart_with, checkout_body, start_checkout

WORKFLOW = "CheckoutWorkflow"
# What a clean approved checkout runs, and what a declined one runs after the decline (its compensations).
# prepare_checkout (patch prepared-checkout) is the cart lock, pricing, both quotes, the fraud score and the stock
# hold in one local activity: injected, it fails or reruns all of them together.
APPROVED = ["prepare_checkout", "authorize_payment", "create_order"]
DECLINED = ["release_reservation", "reopen_cart", "fail_checkout"]

KNOWN: dict[tuple[str, str, str], str] = {}  # (scenario, activity, mode): why it fails today
# Settings.reservation_ttl_seconds (RESERVATION_TTL_SECONDS): how long a checkout's stock hold lasts.
RESERVATION_TTL = timedelta(seconds=Settings.model_fields["reservation_ttl_seconds"].default)


def cases():
    for scenario, activities in (("approved", APPROVED), ("declined", DECLINED)):
        for name in activities:
            for mode in MODES:
                marks = [pytest.mark.xfail(strict=True, reason=KNOWN[(scenario, name, mode)])] \
                    if (scenario, name, mode) in KNOWN else []
                yield pytest.param(scenario, name, mode, id=f"{scenario}-{name}-{mode}", marks=marks)


@pytest.fixture
async def run_checkout(time_env, engine, database_url, tmp_path):
    async def run(injector: FaultInjector, payment_method: str, settle=None):
        """``settle(stack, checkout_id, baseline)`` runs after the checkout ends, before the facts are read."""
        stack = await start_stack(time_env, engine, database_url, tmp_path, injector)
        async with stack.worker, stack.api:
            sku, baseline = await stocked_sku(engine)
            started = await start_checkout(stack.api, checkout_body(await cart_with(stack.api, {sku: 2}),
                                                                    payment_method=payment_method))
            assert started.status_code == 202, started.text
            checkout_id = started.json()["checkout_id"]
            result = await finished(time_env, f"checkout-{checkout_id}")
            if settle:
                await settle(stack, checkout_id, baseline)
            async with engine.connect() as conn:
                facts = await gather.checkout_facts(conn, checkout_id, provider=tuple(stack.gateway.effects),
                                                    stock_before=baseline)
            # The fulfillment matrix judges the order's workflows; here: the checkout's, and that an
            # order it left behind has a workflow at all (else nobody ever ships, captures or releases it).
            flows = await views(stack, [f"checkout-{checkout_id}"])
            if facts.order is not None:
                flows += await views(stack, [f"order-{facts.order.order_id}"], only_existence=True)
            facts = replace(facts, workflows=flows)
            return result, facts, stack
    return run


async def test_a_clean_run_covers_the_matrix(run_checkout):
    """The matrix follows the code: a clean run's activities are exactly those listed above."""
    injector = FaultInjector()
    _, facts, _ = await run_checkout(injector, "pm_card_visa")
    assert injector.activities(WORKFLOW) == APPROVED
    assert violations(facts) == []

    declined = FaultInjector()
    result, facts, _ = await run_checkout(declined, "pm_card_chargeDeclined")
    ran = declined.activities(WORKFLOW)
    assert ran[ran.index("authorize_payment") + 1:] == DECLINED
    assert violations(facts) == []


@pytest.mark.parametrize("scenario,activity_type,mode", cases())
async def test_checkout_fault(run_checkout, scenario, activity_type, mode):
    injector = FaultInjector(activity_type, mode, (WORKFLOW,))
    payment_method = "pm_card_visa" if scenario == "approved" else "pm_card_chargeDeclined"
    refused_release = (scenario, activity_type, mode) == ("declined", "release_reservation", "business")
    result, facts, stack = await run_checkout(injector, payment_method,
                                              settle=_swept_after_expiry if refused_release else None)

    assert injector.injected, f"{activity_type} never ran"
    found = violations(facts)
    assert not found, "\n".join(map(str, found))
    assert stack.gateway.count("authorize") <= 1, "one checkout, one authorization"
    if scenario == "approved" and mode in ("transient", "unknown_once"):
        assert result["status"] == "completed", f"a retried step completes the checkout: {result}"
    if scenario == "approved" and mode == "business":
        assert (result["status"], result["error"]["code"]) == ("failed", "injected_failure"), result


async def _swept_after_expiry(stack, checkout_id: str, baseline) -> None:
    """A release refused for good: the checkout says so (CheckoutStatus=compensation_failed) and the hold
    stays until its expiry, when the reservation sweeper frees it (the invariants then see the stock back)."""
    described = await stack.env.client.get_workflow_handle(f"checkout-{checkout_id}").describe()
    assert described.typed_search_attributes.get(sa.CHECKOUT_STATUS) == "compensation_failed"
    async with stack.engine.connect() as conn:
        expires_at = (await conn.execute(select(func.max(reservations.c.expires_at))
                                         .where(reservations.c.reservation_key == checkout_id))).scalar()
        assert await gather.stock_of_skus(conn, [level.sku for level in baseline]) != baseline, "still held"
    assert expires_at is not None
    assert await sweep_once(stack.engine, now=expires_at - timedelta(seconds=1)) == 0, "held until it expires"
    await stack.env.sleep(RESERVATION_TTL + timedelta(minutes=1))
    now = await stack.env.get_current_time()
    assert now > expires_at and await sweep_once(stack.engine, now=now) == 2, "the sweeper frees both units"
