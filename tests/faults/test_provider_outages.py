"""One case per workflow with the local providers switched to fail at their edge, on the dev server:
outages that recover, and answers lost after the provider acted (repeated under the same key).
Afterwards the money invariants hold and every provider effect happened once."""

from dataclasses import replace
from datetime import UTC, datetime

from adapters.factory import Adapters
from db import money_invariants as gather
from models.money_invariants import violations
from tests.faults.flows import finished, place_order, start_stack, stocked_sku, views
from tests.faults.harness import FaultInjector, FlakyProvider
from tests.faults.test_returns_and_refunds_faults import delivered_stack, judge, run_return  # noqa: F401
from tests.integration.checkout_helpers import ADDRESS, eventually, refund


class switched:  # noqa: N801 - reads as "providers switched(to fail like this)"
    """An edge(adapters) wrapping each provider in a FlakyProvider with these faults."""

    def __init__(self, payment: dict | None = None, tax: dict | None = None, shipping: dict | None = None):
        self.faults = {"payment": payment or {}, "tax": tax or {}, "shipping": shipping or {}}
        self.providers: list[FlakyProvider] = []

    def __call__(self, adapters: Adapters) -> Adapters:
        wrapped = {port: FlakyProvider(getattr(adapters, port), **faults) for port, faults in self.faults.items()}
        self.providers = list(wrapped.values())
        return Adapters(**wrapped, email=adapters.email)

    def spent(self) -> bool:
        """Every fault happened (a case whose faults never fired proves nothing)."""
        return not any(left for provider in self.providers for left in provider.failures_left().values())


async def test_checkout_rides_out_a_tax_outage_and_a_lost_authorization_answer(temporal_env, engine, database_url,
                                                                               tmp_path):
    edge = switched(payment={"authorize": ("lost_answer", 1)}, tax={"quote": ("down", 2)})
    stack = await start_stack(temporal_env, engine, database_url, tmp_path, FaultInjector(), edge=edge)
    async with stack.worker, stack.api:
        sku, baseline = await stocked_sku(engine)
        checkout_id, order_id = await place_order(stack, {sku: 2})
        async with engine.connect() as conn:
            facts = await gather.checkout_facts(conn, checkout_id, provider=tuple(stack.gateway.effects),
                                                stock_before=baseline)
        found = violations(replace(facts, workflows=await views(stack, [f"checkout-{checkout_id}"])))
    assert not found, "\n".join(map(str, found))
    assert edge.spent()
    assert [e.kind for e in stack.gateway.effects] == ["authorize", "authorize"], "the lost answer was asked again"
    assert stack.gateway.count("authorize") == 1, "under the same key: one authorization"


async def test_a_parcel_ships_through_carrier_tax_and_capture_trouble(delivered_stack):
    edge = switched(payment={"capture": ("lost_answer", 1)}, tax={"commit": ("down", 2)},
                    shipping={"buy_label": ("down", 2)})
    stack, order_id, _ = await delivered_stack(FaultInjector(), edge)
    found = await judge(stack, order_id, [f"order-{order_id}"])
    assert not found, "\n".join(map(str, found))
    assert edge.spent()
    assert stack.gateway.count("capture") == 1
    async with stack.engine.connect() as conn:
        assert (await gather.order_facts(conn, order_id)).order.status == "fulfilled"


async def test_a_support_refund_whose_answer_was_lost_refunds_once(delivered_stack):
    edge = switched(payment={"refund": ("lost_answer", 1)})
    stack, order_id, _ = await delivered_stack(FaultInjector(), edge)
    answered = await refund(stack.api, order_id, {"amount": 700, "reason": "late"})
    assert answered.status_code in (200, 201), answered.text
    found = await judge(stack, order_id, [])
    assert not found, "\n".join(map(str, found))
    assert edge.spent()
    assert stack.gateway.count("refund") == 1


async def test_a_return_whose_refund_answer_was_lost_refunds_once(delivered_stack):
    edge = switched(payment={"refund": ("lost_answer", 1)})
    stack, order_id, sku = await delivered_stack(FaultInjector(), edge)
    flow = await run_return(stack, order_id, sku)
    assert await finished(stack.env, flow) == "refunded"
    found = await judge(stack, order_id, [flow])
    assert not found, "\n".join(map(str, found))
    assert edge.spent()
    assert stack.gateway.count("refund") == 1


async def test_a_renewal_whose_charge_answer_was_lost_charges_once(temporal_env, engine, database_url, tmp_path):
    edge = switched(payment={"charge_off_session": ("lost_answer", 1)})
    stack = await start_stack(temporal_env, engine, database_url, tmp_path, FaultInjector(), edge=edge)
    async with stack.worker, stack.api:
        sku, baseline = await stocked_sku(engine, on_hand=10)
        created = await stack.api.post("/subscriptions", headers={"Idempotency-Key": f"sub-{sku}"}, json={
            "email": "ada@example.com", "payment_method": "pm_card_visa", "shipping_address": ADDRESS,
            "lines": [{"sku": sku, "quantity": 1}], "interval": "monthly",
            "anchor_date": datetime.now(UTC).date().isoformat()})
        assert created.status_code == 201, created.text
        payment_ref = f"{created.json()['id']}:cycle-1"

        async def renewed():
            async with engine.connect() as conn:
                return (await gather.payment_facts(conn, payment_ref)).order is not None
        assert await eventually(renewed, 30), "the first renewal never placed its order"
        async with engine.connect() as conn:
            facts = await gather.payment_facts(conn, payment_ref, provider=tuple(stack.gateway.effects))
    found = violations(facts)
    assert not found, "\n".join(map(str, found))
    assert edge.spent()
    assert stack.gateway.count("charge") == 1
