"""The return workflow's exchange for a dearer variant, with stand-in activities on the time-skipping server:
a declined difference never ships the replacement; an unanswered one is asked again (same arguments, so the
same payment keys) with a visible alert instead of failing or charging twice."""

import uuid

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from models.commerce import Label, TaxQuote
from models.fulfillment import FulfillmentInput
from models.refunds import RefundResult
from models.returns import Decision, ExchangeCharge, ExchangeTerms, InspectedUnits, Inspection, ReturnInput
from models.returns import ReturnLine, ReturnPolicy
from workflows.returns import ReturnWorkflow

TERMS = ExchangeTerms(currency="USD", replacement={"TEE-L": 1}, difference_net=600, difference_tax=48, paid=2160)


@workflow.defn(name="FulfillmentWorkflow")
class ReplacementShipped:
    """Stands in for the replacement order's fulfillment."""

    @workflow.run
    async def run(self, order: FulfillmentInput) -> str:
        return "delivered"


class StandIns:
    """The activities the return workflow calls, recording what they were asked; the charge answers as told."""

    def __init__(self, charge):
        self.charge = charge
        self.calls: list[tuple[str, tuple]] = []
        self.charge_executions: set[str] = set()

    def named(self, name: str):
        return [args for called, args in self.calls if called == name]

    def activities(self) -> list:
        def recorded(name: str, answer=None):
            @activity.defn(name=name)
            async def stand_in(*args):
                self.calls.append((name, args))
                return answer(*args) if answer else None
            return stand_in

        @activity.defn(name="charge_exchange_difference")
        async def charge(rma: ReturnInput, terms: ExchangeTerms) -> ExchangeCharge:
            self.calls.append(("charge_exchange_difference", (rma, terms)))
            self.charge_executions.add(activity.info().activity_id)
            return self.charge(len(self.charge_executions))

        label = Label(provider="local", label_id="lbl_1", tracking_code="TRK1", carrier="USPS", service="Priority",
                      amount=500, currency="USD", label_url="https://labels.example/1")
        refund = RefundResult(refund_id="re_1", order_id="ord_1", amount=1, currency="USD", tax_refunded=0,
                              order_status="partially_refunded")
        return [recorded("set_return_status"), recorded("hold_exchange_stock"),
                recorded("buy_return_label", lambda rma: label), recorded("send_return_approved", lambda _: "sent"),
                recorded("mark_received", lambda rma: True), recorded("apply_inspection"),
                recorded("prepare_exchange", lambda rma, accepted: TERMS), charge,
                recorded("create_exchange_order", lambda *args: "ord_replacement"),
                recorded("commit_exchange_tax", lambda rma, terms: TaxQuote(provider="local", currency="USD", lines=[],
                                                                            total=48)),
                recorded("record_exchange_tax"),
                recorded("release_exchange_stock", lambda _: 1), recorded("refund_return", lambda *args: refund),
                recorded("send_exchange_payment_failed", lambda _: "sent"), recorded("refund_return_label")]


def declined(execution: int) -> ExchangeCharge:
    raise ApplicationError("the card was declined", type="payment_declined", non_retryable=True)


def unanswered_first(execution: int) -> ExchangeCharge:
    """Every attempt of the first execution gets no answer (its budget runs out); the next one is answered."""
    if execution == 1:
        raise RuntimeError("stripe: APIConnectionError")
    return ExchangeCharge(provider="local", authorization_id="lpi_1", net=600, tax=48)


async def exchanged_return(env, stand_ins: StandIns) -> tuple[str, object]:
    """Request → approve → receive → inspect an exchange to a dearer variant; (result, handle)."""
    task_queue = f"exchange-{uuid.uuid4().hex[:8]}"
    rma = ReturnInput(rma_id=f"rma_{uuid.uuid4().hex[:8]}", order_id="ord_1", exchange=True, policy=ReturnPolicy(),
                      lines=[ReturnLine(sku="TEE-M", quantity=1, reason="size_fit", exchange_sku="TEE-L")])
    async with Worker(env.client, task_queue=task_queue, workflows=[ReturnWorkflow, ReplacementShipped],
                      activities=stand_ins.activities()):
        handle = await env.client.start_workflow(ReturnWorkflow.run, rma, id=f"return-{rma.rma_id}",
                                                 task_queue=task_queue)
        await handle.execute_update(ReturnWorkflow.approve, Decision(note="ok"))
        await handle.execute_update(ReturnWorkflow.receive)
        await handle.execute_update(ReturnWorkflow.inspect, Inspection(units=[
            InspectedUnits(sku="TEE-M", quantity=1, disposition="refurbish")]))
        return await handle.result(), handle


async def alerts_set(handle) -> list[str | None]:
    """FulfillmentAlert values the workflow set, in order (None: cleared)."""
    values = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            if "FulfillmentAlert" in fields:
                data = fields["FulfillmentAlert"].data
                values.append(data.decode().strip('"') if data and data != b"null" else None)
    return values


async def test_a_declined_difference_never_ships_the_replacement(time_env):
    stand_ins = StandIns(declined)
    result, handle = await exchanged_return(time_env, stand_ins)

    assert result == "exchange_payment_failed"
    assert stand_ins.named("create_exchange_order") == [], "nothing ships without the difference paid"
    assert len(stand_ins.named("release_exchange_stock")) == 1, "the held variant goes back on sale"
    assert [args[1] for args in stand_ins.named("set_return_status")][-1] == "exchange_payment_failed"
    assert len(stand_ins.named("send_exchange_payment_failed")) == 1, "the customer is told"
    assert stand_ins.named("refund_return") == []
    assert await alerts_set(handle) == ["return_exchange_payment_failed:payment_declined"]


async def test_an_unanswered_difference_is_asked_again_under_the_same_keys(time_env):
    stand_ins = StandIns(unanswered_first)
    result, handle = await exchanged_return(time_env, stand_ins)

    assert result == "exchanged"
    asked = stand_ins.named("charge_exchange_difference")
    assert len(stand_ins.charge_executions) == 2 and len(asked) > 2
    assert all(args == asked[0] for args in asked), "the same return and terms: the same payment keys"
    (created,) = stand_ins.named("create_exchange_order")  # untyped stand-in: its arguments arrive as dicts
    assert ExchangeTerms(**created[3]) == TERMS
    assert ExchangeCharge(**created[4]) == ExchangeCharge(provider="local", authorization_id="lpi_1", net=600, tax=48)
    assert stand_ins.named("release_exchange_stock") == [] and stand_ins.named("refund_return") == []
    assert await alerts_set(handle) == ["return_exchange_charge_unknown", None], "visible meanwhile, then cleared"
