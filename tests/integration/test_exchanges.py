"""Exchanges for another variant of the same product, through HTTP on the dev server: the variant's stock is held
from the approval; a dearer one's difference is charged before the replacement exists, a cheaper one's refunded,
an equal one ships at no charge as exchanges always did; a declined difference never ships."""

import os
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Replayer

from activities.returns import ReturnActivities
from adapters.local.shipping import LocalShippingCarrier
from db import money_invariants
from db import notifications
from db.tables import local_card_intents, orders, payment_operations, variants
from models.money_invariants import violations
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import (
    REUSED_CARDS, atp, delivered_order, eventually, reused_card, workflow_result,
)
from tests.integration.test_returns import status_becomes
from worker import WORKFLOWS

PAID = 2000  # the returned variant's unit price
HISTORIES = Path(__file__).resolve().parent.parent / "histories"


async def variant_of(engine, sku: str, price: int, on_hand: int = 5) -> str:
    """Another variant (e.g. size L) of ``sku``'s product, with its own price and stock."""
    from db import inventory
    from db.tables import prices
    from models.ids import public_id

    new_sku, variant_id = f"{sku}-L", public_id("variant")
    location = await make_location(engine)
    async with engine.begin() as conn:
        product_id = (await conn.execute(select(variants.c.product_id).where(variants.c.sku == sku))).scalar_one()
        await conn.execute(variants.insert().values(id=variant_id, product_id=product_id, sku=new_sku,
                                                    title=f"Item {new_sku}", weight_grams=200, status="active"))
        await conn.execute(prices.insert().values(variant_id=variant_id, currency="USD", amount=price))
        await inventory.set_stock(conn, new_sku, location, on_hand=on_hand, reason="test")
    return new_sku


async def request_exchange(api, order_id: str, sku: str, exchange_sku: str):
    return await api.post(f"/orders/{order_id}/returns", json={"lines": [
        {"sku": sku, "quantity": 1, "reason": "size_fit", "exchange_sku": exchange_sku}]})


async def approved_exchange(api, order_id: str, sku: str, exchange_sku: str) -> str:
    created = await request_exchange(api, order_id, sku, exchange_sku)
    assert created.status_code == 201, created.text
    assert created.json()["exchange"] is True, "a line naming a variant makes the return an exchange"
    rma_id = created.json()["id"]
    assert (await api.post(f"/returns/{rma_id}/approve", json={})).status_code == 200
    await status_becomes(api, rma_id, "awaiting_return")
    return rma_id


async def finish(api, temporal_env, rma_id: str, sku: str) -> str:
    """The parcel is back and inspected: the return workflow's result."""
    assert (await api.post(f"/returns/{rma_id}/receive")).status_code == 200
    await status_becomes(api, rma_id, "received")
    inspected = await api.post(f"/returns/{rma_id}/inspect", json={"units": [
        {"sku": sku, "quantity": 1, "disposition": "refurbish"}]})
    assert inspected.status_code == 200, inspected.text
    return await workflow_result(temporal_env.client, f"return-{rma_id}")


def taxed_difference(line: dict, new_price: int) -> int:
    """The unit price difference plus tax at the returned line's rate, rounded half up."""
    net = new_price - line["unit_price"]
    tax = (Decimal(abs(net)) * line["tax"] / line["line_total"]).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return net + int(tax) * (1 if net >= 0 else -1)


async def replays_and_is_saved(temporal_env, rma_id: str, name: str) -> None:
    """The run replays against today's code; saved for tests/integration/test_replay.py with RECORD_HISTORIES=1
    (only when missing)."""
    history = await temporal_env.client.get_workflow_handle(f"return-{rma_id}").fetch_history()
    replayed = await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(history)
    assert replayed.replay_failure is None
    target = HISTORIES / f"{name}.json"
    if os.environ.get("RECORD_HISTORIES") == "1" and not target.exists():
        target.write_text(history.to_json())


async def ledger_of(engine, payment_ref: str) -> list[tuple[str, int, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(payment_operations.c.kind, payment_operations.c.amount,
                                         payment_operations.c.status)
                                  .where(payment_operations.c.payment_ref == payment_ref)
                                  .order_by(payment_operations.c.created_at))
        return [tuple(row) for row in rows]


@pytest.mark.parametrize("card", REUSED_CARDS)
async def test_a_dearer_variant_is_paid_for_before_the_replacement_exists(api, temporal_env, engine, card):
    card = reused_card(card)
    done, (sku,) = await delivered_order(api, temporal_env, engine, {PAID: 1}, payment_method=card)
    larger = await variant_of(engine, sku, price=2600)
    on_sale = await atp(api, larger)
    rma_id = await approved_exchange(api, done["order_id"], sku, larger)
    assert await atp(api, larger) == on_sale - 1, "held from the approval"

    assert await finish(api, temporal_env, rma_id, sku) == "exchanged"
    (line,) = (await api.get(f"/orders/{done['order_id']}")).json()["lines"]
    difference = taxed_difference(line, 2600)
    assert difference > 600
    assert await ledger_of(engine, f"{rma_id}:exchange") == [("authorize", difference, "succeeded"),
                                                             ("capture", difference, "succeeded")]
    replacement_id = (await api.get(f"/returns/{rma_id}")).json()["replacement_order_id"]
    replacement = (await api.get(f"/orders/{replacement_id}")).json()
    assert replacement["totals"]["total"] == difference and replacement["status"] == "captured"
    assert [(item["sku"], item["quantity"]) for item in replacement["lines"]] == [(larger, 1)]
    assert await atp(api, larger) == on_sale - 1, "the hold became the replacement's, not a second one"
    assert (await api.get(f"/orders/{done['order_id']}/refunds")).json() == []

    async def routed():
        return len((await api.get(f"/orders/{replacement_id}")).json()["shipments"]) == 1
    assert await eventually(routed), "the replacement flows into fulfillment"
    async with engine.connect() as conn:
        assert violations(await money_invariants.order_facts(conn, replacement_id)) == []
        reported = (await conn.execute(select(orders.c.tax_provider, orders.c.tax_document)
                                       .where(orders.c.id == replacement_id))).one()
    assert tuple(reported) == ("local", f"{rma_id}:exchange-tax"), "the difference's tax is reported"
    await replays_and_is_saved(temporal_env, rma_id, "return_exchange_difference_tax_committed")


async def test_a_cheaper_variant_refunds_the_difference(api, temporal_env, engine):
    done, (sku,) = await delivered_order(api, temporal_env, engine, {PAID: 1})
    smaller = await variant_of(engine, sku, price=1500)
    rma_id = await approved_exchange(api, done["order_id"], sku, smaller)

    assert await finish(api, temporal_env, rma_id, sku) == "exchanged"
    (line,) = (await api.get(f"/orders/{done['order_id']}")).json()["lines"]
    refunds = (await api.get(f"/orders/{done['order_id']}/refunds")).json()
    assert [refund["amount"] for refund in refunds] == [-taxed_difference(line, 1500)]
    shown = (await api.get(f"/returns/{rma_id}")).json()
    assert shown["refund_id"] == refunds[0]["refund_id"] and shown["status"] == "exchanged"
    replacement = (await api.get(f"/orders/{shown['replacement_order_id']}")).json()
    assert replacement["totals"]["total"] == 0 and replacement["lines"][0]["sku"] == smaller
    assert await ledger_of(engine, f"{rma_id}:exchange") == [], "nothing charged"


async def test_an_equal_price_variant_ships_at_no_charge(api, temporal_env, engine):
    done, (sku,) = await delivered_order(api, temporal_env, engine, {PAID: 1})
    other_colour = await variant_of(engine, sku, price=PAID)
    rma_id = await approved_exchange(api, done["order_id"], sku, other_colour)

    assert await finish(api, temporal_env, rma_id, sku) == "exchanged"
    replacement_id = (await api.get(f"/returns/{rma_id}")).json()["replacement_order_id"]
    replacement = (await api.get(f"/orders/{replacement_id}")).json()
    assert replacement["totals"]["total"] == 0 and replacement["status"] == "authorized"
    assert replacement["lines"][0]["sku"] == other_colour
    assert (await api.get(f"/orders/{done['order_id']}/refunds")).json() == []
    assert await ledger_of(engine, f"{rma_id}:exchange") == []


@pytest.mark.parametrize(("card", "code"), [("pm_card_chargeDeclined", "payment_declined"),
                                           ("pm_card_authenticationRequired", "authentication_required")])
async def test_a_declined_difference_leaves_the_return_for_support(api, api_as, temporal_env, engine, card, code):
    """Declined, or the issuer wants 3-D Secure with nobody at the keyboard: either way nothing is charged."""
    done, (sku,) = await delivered_order(api, temporal_env, engine, {PAID: 1})
    larger = await variant_of(engine, sku, price=3000)
    on_sale = await atp(api, larger)
    rma_id = await approved_exchange(api, done["order_id"], sku, larger)
    async with engine.begin() as conn:  # the card the order was paid with behaves so since
        await conn.execute(update(orders).where(orders.c.id == done["order_id"]).values(payment_method=card))

    assert await finish(api, temporal_env, rma_id, sku) == "exchange_payment_failed"
    shown = (await api.get(f"/returns/{rma_id}")).json()
    assert shown["status"] == "exchange_payment_failed" and shown["replacement_order_id"] is None
    assert code in shown["note"]
    assert await atp(api, larger) == on_sale, "the held variant is back on sale"
    assert await ledger_of(engine, f"{rma_id}:exchange") == [("authorize", taxed_difference(
        (await api.get(f"/orders/{done['order_id']}")).json()["lines"][0], 3000), "failed")]
    async with engine.connect() as conn:
        assert (await conn.execute(select(orders.c.id).where(orders.c.checkout_id == f"{rma_id}:exchange"))).first() \
            is None, "no replacement order"
        assert await notifications.already_sent(conn, done["order_id"], f"exchange_payment_failed:{rma_id}")
    waiting = (await api_as("support").get("/work-queues/returns_needing_attention")).json()
    assert rma_id in [item["id"] for item in waiting]
    if code == "payment_declined":
        await replays_and_is_saved(temporal_env, rma_id, "return_exchange_payment_declined")


async def test_an_exchange_must_be_for_a_variant_of_the_same_product_in_stock(api, temporal_env, engine):
    done, (sku,) = await delivered_order(api, temporal_env, engine, {PAID: 1})
    other_product = await make_sku(engine, price=PAID, stock={await make_location(engine): 5})
    sold_out = await variant_of(engine, sku, price=PAID, on_hand=0)

    wrong = await request_exchange(api, done["order_id"], sku, other_product)
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "exchange_not_same_product"
    unknown = await request_exchange(api, done["order_id"], sku, "NO-SUCH-SKU")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_sku"
    short = await request_exchange(api, done["order_id"], sku, sold_out)
    assert short.status_code == 409 and short.json()["error"]["code"] == "insufficient_stock"
    assert (await api.get(f"/orders/{done['order_id']}/returns")).json() == [], "nothing recorded"


async def test_a_replayed_exchange_request_answers_its_return_even_after_the_variant_sold_out(api, temporal_env,
                                                                                            engine):
    """The variant check belongs to a new return only: a retry under the same key gets the return it made."""
    from db import inventory
    from db.tables import stock

    done, (sku,) = await delivered_order(api, temporal_env, engine, {PAID: 1})
    larger = await variant_of(engine, sku, price=PAID)
    body = {"lines": [{"sku": sku, "quantity": 1, "reason": "size_fit", "exchange_sku": larger}]}
    headers = {"Idempotency-Key": f"exchange-{done['order_id']}"}
    first = await api.post(f"/orders/{done['order_id']}/returns", json=body, headers=headers)
    assert first.status_code == 201, first.text
    async with engine.begin() as conn:  # the last units of the variant sell elsewhere
        for location_id in (await conn.execute(select(stock.c.location_id)
                                               .where(stock.c.sku == larger))).scalars().all():
            await inventory.set_stock(conn, larger, location_id, on_hand=0, reason="test")
    replayed = await api.post(f"/orders/{done['order_id']}/returns", json=body, headers=headers)
    assert replayed.status_code in (200, 201), replayed.text
    assert replayed.json()["id"] == first.json()["id"]


class LosesFirstAuthorizeAnswer:
    """The card simulator, but the answer to the first authorization is lost on its way back (it did act)."""

    def __init__(self, inner):
        self.inner, self.keys = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def authorize(self, **call):
        from adapters.ports import ProviderUnavailable

        self.keys.append(call["idempotency_key"])
        answer = await self.inner.authorize(**call)
        if len(self.keys) == 1:
            raise ProviderUnavailable("local: connection reset after the request was sent")
        return answer


async def test_an_unanswered_difference_is_settled_under_the_same_key(api, temporal_env, engine):
    """The activity the workflow repeats after an unknown outcome: one hold and one capture at the provider."""
    from activities.payments_service import PaymentService
    from activities.returns import ReturnActivities
    from activities.support import RefundService
    from adapters.local.payment import LocalPaymentGateway
    from adapters.local.shipping import LocalShippingCarrier
    from adapters.local.tax import LocalTaxCalculator
    from models.returns import ExchangeTerms, ReturnInput, ReturnLine, ReturnPolicy

    done, (sku,) = await delivered_order(api, temporal_env, engine, {PAID: 1})
    gateway = LosesFirstAuthorizeAnswer(LocalPaymentGateway(engine=engine))
    returns = ReturnActivities(engine, LocalShippingCarrier(),
                               RefundService(engine, PaymentService(engine, gateway), LocalTaxCalculator()))
    rma = ReturnInput(rma_id=f"rma_lost_{done['order_id']}", order_id=done["order_id"], exchange=True,
                      policy=ReturnPolicy(), lines=[ReturnLine(sku=sku, quantity=1, reason="size_fit",
                                                               exchange_sku=f"{sku}-L")])
    terms = ExchangeTerms(currency="USD", replacement={f"{sku}-L": 1}, difference_net=600, difference_tax=48, paid=2160)

    with pytest.raises(Exception, match="connection reset"):
        await returns.charge_exchange_difference(rma, terms)
    assert await ledger_of(engine, f"{rma.rma_id}:exchange") == [("authorize", 648, "pending")]
    charged = await returns.charge_exchange_difference(rma, terms)

    assert gateway.keys == [f"{rma.rma_id}:exchange-difference"] * 2, "asked again under the same key"
    assert await ledger_of(engine, f"{rma.rma_id}:exchange") == [("authorize", 648, "succeeded"),
                                                                 ("capture", 648, "succeeded")]
    async with engine.connect() as conn:
        intents = (await conn.execute(select(local_card_intents.c.id).where(
            local_card_intents.c.reference == f"{rma.rma_id}:exchange"))).scalars().all()
    assert intents == [charged.authorization_id], "one hold at the provider, the one the first call made"


async def test_a_variant_withdrawn_before_inspection_is_refunded_instead(api, temporal_env, engine):
    done, (sku,) = await delivered_order(api, temporal_env, engine, {PAID: 1})
    larger = await variant_of(engine, sku, price=2600)
    on_sale = await atp(api, larger)
    rma_id = await approved_exchange(api, done["order_id"], sku, larger)
    async with engine.begin() as conn:
        await conn.execute(update(variants).where(variants.c.sku == larger).values(status="archived"))

    assert await finish(api, temporal_env, rma_id, sku) == "refunded"
    (line,) = (await api.get(f"/orders/{done['order_id']}")).json()["lines"]
    assert [r["amount"] for r in (await api.get(f"/orders/{done['order_id']}/refunds")).json()] == [
        line["line_total"] + line["tax"]]
    assert await ledger_of(engine, f"{rma_id}:exchange") == [], "nothing charged"
    assert await atp(api, larger) == on_sale, "the hold is given back"


async def test_an_exchange_approved_by_a_build_before_variants_still_ships_the_same_sku(api, temporal_env, engine,
                                                                                       local_adapters):
    """A return approved before ``exchange-another-variant`` keeps the old branch to its end (a patch's answer is
    kept for the run), which creates the replacement with the old three arguments: they must keep their types
    (Temporal decodes untyped when fewer arguments come than the activity takes), not fail into a refund."""
    import asyncio
    import uuid

    from temporalio.worker import Worker

    from db import returns as return_store
    from models.ids import public_id
    from models.returns import Decision, InspectedUnits, Inspection, ReturnInput, ReturnLine, ReturnPolicy
    from worker import build_activities
    from workflows.returns import EXCHANGE_VARIANT_PATCH, ReturnWorkflow

    done, (sku,) = await delivered_order(api, temporal_env, engine, {PAID: 1})
    rma = ReturnInput(rma_id=public_id("return"), order_id=done["order_id"], exchange=True, policy=ReturnPolicy(),
                      lines=[ReturnLine(sku=sku, quantity=1, reason="size_fit")])
    async with engine.begin() as conn:
        await return_store.create(conn, rma_id=rma.rma_id, order_id=rma.order_id, exchange=True,
                                  lines=[line.model_dump() for line in rma.lines])
    queue = f"before-variants-{uuid.uuid4().hex[:8]}"
    async with Worker(temporal_env.client, task_queue=queue, workflows=WORKFLOWS,
                      activities=build_activities(engine, local_adapters),
                      patch_activation_callback=lambda patch: patch.patch_id != EXCHANGE_VARIANT_PATCH):
        handle = await temporal_env.client.start_workflow(ReturnWorkflow.run, rma, id=f"return-{rma.rma_id}",
                                                          task_queue=queue)
        await handle.execute_update(ReturnWorkflow.approve, Decision())
        await handle.execute_update(ReturnWorkflow.receive)
        await handle.execute_update(ReturnWorkflow.inspect, Inspection(units=[
            InspectedUnits(sku=sku, quantity=1, disposition="refurbish")]))
        assert await asyncio.wait_for(handle.result(), timeout=60) == "exchanged"  # a hang guard: seconds
    replacement_id = (await api.get(f"/returns/{rma.rma_id}")).json()["replacement_order_id"]
    assert [line["sku"] for line in (await api.get(f"/orders/{replacement_id}")).json()["lines"]] == [sku]
    assert (await api.get(f"/orders/{done['order_id']}/refunds")).json() == []


class _RecordingTax:
    def __init__(self):
        self.voided: list[str] = []

    async def void(self, *, document_code: str) -> None:
        self.voided.append(document_code)


async def test_the_exchange_tax_void_spares_a_replacement_that_exists(api, temporal_env, engine):
    """The compensation's void runs when the replacement was never made; if create_exchange_order committed and
    only its answer was lost, the replacement exists and its sale's tax document stands."""
    done, (sku,) = await delivered_order(api, temporal_env, engine, {PAID: 1})
    other_colour = await variant_of(engine, sku, price=PAID)
    rma_id = await approved_exchange(api, done["order_id"], sku, other_colour)
    tax = _RecordingTax()
    returns = ReturnActivities(engine, LocalShippingCarrier(), SimpleNamespace(tax=tax))
    code = f"{rma_id}:exchange-tax"

    assert await ActivityEnvironment().run(returns.void_exchange_tax, rma_id, code) is True  # no replacement yet
    assert await finish(api, temporal_env, rma_id, sku) == "exchanged"
    assert await ActivityEnvironment().run(returns.void_exchange_tax, rma_id, code) is False
    assert tax.voided == [code], "voided once: before the replacement existed, never after"
