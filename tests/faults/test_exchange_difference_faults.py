"""A dearer variant's exchange difference under faults, on the dev server: the real ``charge_exchange_difference``
(authorize and capture under ``{rma}:exchange-difference``) or ``commit_exchange_tax`` (the difference's tax document
``{rma}:exchange-tax``, at the local AvaTax stand-in) fails once before or after its effect. Judged by the money
invariants over the difference's payment (with the replacement order it paid for) and over the original order: one
hold and one capture under the same keys, nothing pending, one unit of the variant held; and by the tax provider's
documents: one committed invoice for the difference, asked again only under its own code, recorded on the
replacement. A refusal and an unknown outcome for good are workflow tests (tests/workflows/test_exchange_difference.py,
tests/workflows/test_exchange_tax.py)."""

from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import select

from db import money_invariants as gather
from db.tables import orders, refunds
from models.money_invariants import violations
from tests.faults.flows import order_workflows, shipment_rows, views
from tests.faults.harness import FaultInjector
from tests.faults.test_returns_and_refunds_faults import delivered_stack  # noqa: F401  (the fixture)
from tests.integration.checkout_helpers import eventually, workflow_result
from tests.integration.test_exchanges import approved_exchange, ledger_of, variant_of
from tests.integration.test_returns import status_becomes
from tests.providers.conftest import _avalara_server, avalara, avalara_url, fake_avalara  # noqa: F401  (fixtures)

STEPS = ("charge_exchange_difference", "commit_exchange_tax")
MODES = ("transient", "unknown_once")
CASES = [(step, mode) for step in STEPS for mode in MODES]


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


@pytest.mark.parametrize(("step", "mode"), CASES, ids=[f"exchange-{step}-{mode}" for step, mode in CASES])
async def test_exchange_difference_fault(delivered_stack, engine, avalara, fake_avalara, step, mode):
    injector = FaultInjector(step, mode, ("ReturnWorkflow",))
    stack, order_id, sku = await delivered_stack(injector, edge=lambda adapters: replace(adapters, tax=avalara))
    larger = await variant_of(engine, sku, price=2600)
    async with engine.connect() as conn:
        baseline = await gather.stock_of_skus(conn, [larger])
    rma_id = await approved_exchange(stack.api, order_id, sku, larger)

    assert await inspect_back(stack, rma_id, sku) == "exchanged", "a retried charge still ships the replacement"
    assert injector.injected == 1, f"{step} never ran"
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
    await difference_tax_reported(engine, fake_avalara, rma_id, replacement_id, larger,
                                  commits=2 if (step, mode) == ("commit_exchange_tax", "unknown_once") else 1)


async def difference_tax_reported(engine, fake_avalara, rma_id: str, replacement_id: str, variant: str,
                                  commits: int) -> None:
    """One committed invoice for the difference (2600 - 2000), asked ``commits`` times under its one code, and
    recorded on the replacement order."""
    code = f"{rma_id}:exchange-tax"
    doc = fake_avalara.documents[code]
    assert (doc["type"], doc["status"]) == ("SalesInvoice", "Committed")
    assert [(line["itemCode"], line["lineAmount"]) for line in doc["lines"]] == [(variant, Decimal("6.00"))]
    commits_sent = [r["body"]["createTransactionModel"] for r in fake_avalara.requests
                    if r["path"].endswith("/createoradjust")]
    asked = [model["code"] for model in commits_sent if model["code"].startswith(rma_id)]
    assert asked == [code] * commits, "asked again only under the same document code"
    async with engine.connect() as conn:
        recorded = (await conn.execute(select(orders.c.tax_provider, orders.c.tax_document)
                                       .where(orders.c.id == replacement_id))).one()
    assert tuple(recorded) == ("avalara", code)


async def test_a_cheaper_exchange_reports_the_tax_it_refunds(delivered_stack, engine, avalara, fake_avalara):
    """No new document: the difference goes back through the refund path, which returns its tax pro rata against
    the original order's committed parcel documents (the same as any refund by amount)."""
    stack, order_id, sku = await delivered_stack(FaultInjector(), edge=lambda adapters: replace(adapters, tax=avalara))
    rma_id = await approved_exchange(stack.api, order_id, sku, await variant_of(engine, sku, price=1500))

    assert await inspect_back(stack, rma_id, sku) == "exchanged"
    refund_id = (await stack.api.get(f"/returns/{rma_id}")).json()["refund_id"]
    (returned,) = [doc for code, doc in fake_avalara.documents.items() if code.startswith(f"{refund_id}:")]
    assert (returned["type"], returned["status"]) == ("ReturnInvoice", "Committed") and returned["totalTax"] < 0
    async with engine.connect() as conn:
        told = await conn.scalar(select(refunds.c.tax_refunded).where(refunds.c.id == refund_id))
    assert told == -returned["totalTax"] * 100, "the refund records the tax the provider took back"
    assert f"{rma_id}:exchange-tax" not in fake_avalara.documents
