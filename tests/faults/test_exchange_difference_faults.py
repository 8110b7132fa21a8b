"""A dearer variant's exchange difference under faults, on the dev server: the real ``charge_exchange_difference``
(authorize and capture under ``{rma}:exchange-difference``) fails once before or after its effect. Judged by the
money invariants over the difference's payment (with the replacement order it paid for) and over the original
order: one hold and one capture under the same keys, nothing pending, one unit of the variant held. A refusal and
an unknown outcome for good are workflow tests (tests/workflows/test_exchange_difference.py)."""

from dataclasses import replace

import pytest
from db import money_invariants as gather
from models.money_invariants import violations
from tests.faults.flows import order_workflows, shipment_rows, views
from tests.faults.harness import FaultInjector
from tests.faults.test_returns_and_refunds_faults import delivered_stack  # noqa: F401  (the fixture)
from tests.integration.checkout_helpers import eventually, workflow_result
from tests.integration.test_exchanges import approved_exchange, ledger_of, variant_of
from tests.integration.test_returns import status_becomes

STEP = "charge_exchange_difference"
MODES = ("transient", "unknown_once")


async def inspect_back(stack, rma_id: str, sku: str) -> str:
    """The returned unit arrives and is inspected: the return workflow's result."""
    assert (await stack.api.post(f"/returns/{rma_id}/receive")).status_code == 200
    await status_becomes(stack.api, rma_id, "received")
    inspected = await stack.api.post(f"/returns/{rma_id}/inspect", json={"units": [
        {"sku": sku, "quantity": 1, "disposition": "refurbish"}]})
    assert inspected.status_code == 200, inspected.text
    return await workflow_result(stack.env.client, f"return-{rma_id}")


def split(effects, rma_id: str) -> tuple[tuple, tuple]:
    """The provider's effects of the exchange difference, and the rest (the original order's)."""
    mine = tuple(e for e in effects if e.idempotency_key.startswith(f"{rma_id}:"))
    return mine, tuple(e for e in effects if e not in mine)


@pytest.mark.parametrize("mode", MODES, ids=[f"exchange-{STEP}-{mode}" for mode in MODES])
async def test_exchange_difference_fault(delivered_stack, engine, mode):
    injector = FaultInjector(STEP, mode, ("ReturnWorkflow",))
    stack, order_id, sku = await delivered_stack(injector)
    larger = await variant_of(engine, sku, price=2600)
    async with engine.connect() as conn:
        baseline = await gather.stock_of_skus(conn, [larger])
    rma_id = await approved_exchange(stack.api, order_id, sku, larger)

    assert await inspect_back(stack, rma_id, sku) == "exchanged", "a retried charge still ships the replacement"
    assert injector.injected == 1, f"{STEP} never ran"
    key = f"{rma_id}:exchange-difference"
    difference, original = split(stack.gateway.effects, rma_id)
    amount = next(e.amount for e in difference if e.kind == "authorize")
    assert await ledger_of(engine, f"{rma_id}:exchange") == [("authorize", amount, "succeeded"),
                                                             ("capture", amount, "succeeded")], "nothing pending"
    assert {e.idempotency_key for e in difference} == {key, f"{key}:capture"}, "the same keys on every retry"
    assert (stack.gateway.count("authorize"), stack.gateway.count("capture")) == (2, 2), \
        "the order's and the difference's hold and capture, once each"
    replacement_id = (await stack.api.get(f"/returns/{rma_id}")).json()["replacement_order_id"]
    assert await eventually(lambda: shipment_rows(stack, replacement_id)), "the replacement is never routed"
    async with engine.connect() as conn:
        paid = await gather.payment_facts(conn, f"{rma_id}:exchange", provider=difference)
        before = await gather.order_facts(conn, order_id, provider=original)
        (held,), (base,) = await gather.stock_of_skus(conn, [larger]), baseline
    flows = await views(stack, [f"return-{rma_id}", *await order_workflows(stack, replacement_id)])
    found = violations(replace(paid, workflows=flows)) + violations(before)
    assert not found, "\n".join(map(str, found))
    assert (held.on_hand, held.reserved) == (base.on_hand, base.reserved + 1), "one unit held, for the replacement"
