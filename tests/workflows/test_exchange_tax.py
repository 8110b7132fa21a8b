"""A dearer exchange's difference is reported to the tax provider (patch ``exchange-tax-commit``), with stand-in
activities on the time-skipping server: committed under ``{rma}:exchange-tax`` before the replacement exists, then
recorded on it; a refused or unanswered commit never stops the exchange; the document is voided if the replacement is
never created, and a void that fails alerts ops."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.commerce import TaxLine, TaxQuote
from models.returns import ExchangeCharge, ExchangeTerms, ReturnInput
from tests.workflows.test_exchange_difference import TERMS, StandIns, alerts_set, exchanged_return

CHARGED = ExchangeCharge(provider="local", authorization_id="lpi_1", net=600, tax=48)


def committed(rma: ReturnInput) -> TaxQuote:
    return TaxQuote(provider="avalara", currency="USD", lines=[TaxLine(sku="TEE-L", amount=44)], total=44,
                    document_code=f"{rma.rma_id}:exchange-tax")


def refused(rma: ReturnInput, execution: int) -> TaxQuote:
    raise ApplicationError("avalara refused create_or_adjust_transaction", type="tax_request_invalid",
                           non_retryable=True)


def unanswered_first(rma: ReturnInput, execution: int) -> TaxQuote:
    """Every attempt of the first execution gets no answer (its budget runs out); the next one is answered."""
    if execution == 1:
        raise RuntimeError("avalara create_or_adjust_transaction: ConnectionError")
    return committed(rma)


def refused_for_good(name: str, code: str):
    def answer(*args):
        raise ApplicationError(f"{name} refused", type=code, non_retryable=True)
    return answer


def activity_name(defined) -> str:
    return getattr(defined, "__temporal_activity_definition").name


class TaxStandIns(StandIns):
    """The exchange's stand-ins, the difference charged, plus the tax commit (answering as told) and the
    guarded void (void_exchange_tax); ``create``/``void`` replace the replacement order's creation and the void."""

    def __init__(self, commit=lambda rma, execution: committed(rma), create=None, void=None):
        super().__init__(lambda execution: CHARGED)
        self.commit, self.create, self.void = commit, create, void
        self.commit_executions: set[str] = set()

    def activities(self) -> list:
        replaced = {"create_exchange_order": self.create, "void_exchange_tax": self.void}
        kept = [a for a in super().activities() if activity_name(a) not in {*replaced, "commit_exchange_tax"}]

        @activity.defn(name="commit_exchange_tax")
        async def commit(rma: ReturnInput, terms: ExchangeTerms) -> TaxQuote:
            self.calls.append(("commit_exchange_tax", (rma, terms)))
            self.commit_executions.add(activity.info().activity_id)
            return self.commit(rma, len(self.commit_executions))

        return [*kept, commit, *(self._recorded(name, answer) for name, answer in replaced.items())]

    def _recorded(self, name: str, answer):
        @activity.defn(name=name)
        async def stand_in(*args):
            self.calls.append((name, args))
            if answer:
                return answer(*args)
            return "ord_replacement" if name == "create_exchange_order" else None
        return stand_in

    def order(self) -> list[str]:
        """The exchange's steps as first called, in order."""
        steps = ("charge_exchange_difference", "commit_exchange_tax", "create_exchange_order", "record_exchange_tax",
                 "void_exchange_tax")
        return list(dict.fromkeys(name for name, _ in self.calls if name in steps))


async def test_the_difference_tax_is_committed_before_the_replacement_which_records_it(time_env):
    stand_ins = TaxStandIns()
    result, handle = await exchanged_return(time_env, stand_ins)

    assert result == "exchanged"
    ((rma, terms),) = stand_ins.named("commit_exchange_tax")
    assert terms == TERMS
    assert stand_ins.order() == ["charge_exchange_difference", "commit_exchange_tax", "create_exchange_order",
                                 "record_exchange_tax"]
    ((rma_id, recorded),) = stand_ins.named("record_exchange_tax")  # untyped stand-in: arguments arrive as dicts
    assert (rma_id, TaxQuote(**recorded)) == (rma.rma_id, committed(rma)), "the replacement order records it"
    assert stand_ins.named("void_exchange_tax") == [] and await alerts_set(handle) == []


async def test_a_refused_commit_alerts_ops_and_the_exchange_still_completes(time_env):
    stand_ins = TaxStandIns(commit=refused)
    result, handle = await exchanged_return(time_env, stand_ins)

    assert result == "exchanged", "the customer has paid: tax reporting does not hold the replacement back"
    assert len(stand_ins.commit_executions) == 1, "a refusal is not asked again"
    assert len(stand_ins.named("create_exchange_order")) == 1
    assert stand_ins.named("record_exchange_tax") == [] and stand_ins.named("void_exchange_tax") == []
    assert await alerts_set(handle) == ["return_exchange_tax_failed:tax_request_invalid"]


async def test_an_unanswered_commit_is_asked_again_under_the_same_code_once_the_replacement_ships(time_env):
    stand_ins = TaxStandIns(commit=unanswered_first)
    result, handle = await exchanged_return(time_env, stand_ins)

    assert result == "exchanged"
    asked = stand_ins.named("commit_exchange_tax")
    assert len(stand_ins.commit_executions) == 2 and len(asked) > 2
    assert all(args == asked[0] for args in asked), "the same return and terms: the same document code"
    steps = [name for name, _ in stand_ins.calls
             if name in ("commit_exchange_tax", "create_exchange_order", "record_exchange_tax")]
    assert steps[-2:] == ["commit_exchange_tax", "record_exchange_tax"], "answered once the replacement exists"
    assert steps.index("create_exchange_order") < len(steps) - 2
    ((_, recorded),) = stand_ins.named("record_exchange_tax")
    assert TaxQuote(**recorded).document_code.endswith(":exchange-tax")
    alerts = await alerts_set(handle)
    assert alerts[0] == "return_exchange_tax_unknown" and alerts[-1] is None, "visible meanwhile, then cleared"
    assert set(alerts) == {"return_exchange_tax_unknown", None}


async def test_the_document_is_voided_when_the_replacement_is_never_created(time_env):
    stand_ins = TaxStandIns(create=refused_for_good("create_exchange_order", "out_of_stock"))
    result, handle = await exchanged_return(time_env, stand_ins)

    assert result == "needs_attention"
    ((rma, _),) = stand_ins.named("commit_exchange_tax")
    assert stand_ins.named("void_exchange_tax") == [(rma.rma_id, f"{rma.rma_id}:exchange-tax")]
    assert stand_ins.order()[-2:] == ["create_exchange_order", "void_exchange_tax"]
    assert await alerts_set(handle) == ["return_failed:out_of_stock"]


async def test_a_void_that_fails_alerts_ops(time_env):
    stand_ins = TaxStandIns(create=refused_for_good("create_exchange_order", "out_of_stock"),
                            void=refused_for_good("void_exchange_tax", "tax_request_invalid"))
    result, handle = await exchanged_return(time_env, stand_ins)

    assert result == "needs_attention"
    assert len(stand_ins.named("void_exchange_tax")) == 1
    assert await alerts_set(handle) == ["return_failed:out_of_stock",
                                       "return_failed:out_of_stock|return_exchange_tax_unvoided:tax_request_invalid"]
