"""Returns (RMA): approval → return label → parcel back → inspection → refund or exchange.

Support decisions and warehouse steps arrive as updates with validators (the caller gets
an answer); carrier tracking arrives as a signal. An approved return whose parcel never
ships expires after the policy's ship-back days and its label is refunded.

An exchange may swap to another variant of the same product: its stock is held from the approval,
a dearer variant's difference is charged before the replacement exists (declined: it never ships) and
its tax reported to the tax provider, a cheaper one's is refunded once it does (the refund reports its tax).
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.notifications import NotificationActivities
    from activities.interfaces.returns import ReturnActivities
    from models import workflow_ids
    from models.errors import DomainError
    from models.fulfillment import FulfillmentInput, TrackingEvent
    from models.ids import public_id
    from models.returns import Decision, Inspection, ReturnInput, accepted_units, check_inspection
    from models.returns import exchange_tax_document
    from workflows import search_attributes as sa
    from workflows.common import PROVIDER_BUDGET, STEP_RETRY, best_effort, failure_code
    from workflows.fulfillment import FulfillmentWorkflow


REFUND_UNKNOWN_PATCH = "return-refund-unknown-retries-same-id"
# Exchanges for another variant: stock held at approval, priced today, the difference charged or refunded.
EXCHANGE_VARIANT_PATCH = "exchange-another-variant"
# A dearer exchange's difference is reported to the tax provider (a committed document per return).
EXCHANGE_TAX_PATCH = "exchange-tax-commit"
# How long an unanswered refund waits before it is asked again (under the same refund id).
REFUND_RETRY_PAUSE = timedelta(minutes=15)


@workflow.defn
class ReturnWorkflow:
    def __init__(self) -> None:
        self.status = "requested"
        self.decision: tuple[str, Decision] | None = None
        self.received = False
        self.inspection: Inspection | None = None
        self.lines = []
        # The difference's tax document while no replacement order carries it: voided if none ever will.
        self.tax_to_void: str | None = None

    @workflow.query
    def state(self) -> str:
        return self.status

    async def _act(self, method, *args):
        return await workflow.execute_activity_method(
            method, args=list(args), start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=PROVIDER_BUDGET, retry_policy=STEP_RETRY,
        )

    async def _email(self, method, *args, patch: str) -> None:
        """A customer email (never stops the return); returns from before ``patch`` sent none there."""
        if workflow.patched(patch):
            await best_effort(self._act(method, *args), "notification")

    async def _set(self, rma: ReturnInput, status: str, note: str | None = None, actor: str | None = None) -> None:
        self.status = status
        await self._act(ReturnActivities.set_return_status, rma.rma_id, status, note, actor)

    @workflow.run
    async def run(self, rma: ReturnInput) -> str:
        try:
            return await self._handle(rma)
        except ActivityError as failure:
            # Returns started before this branch existed failed here; replaying them must fail the same way.
            if not workflow.patched("return-step-failure-alert"):
                raise
            return await self._needs_attention(rma, failure)

    async def _needs_attention(self, rma: ReturnInput, failure: ActivityError) -> str:
        """A step failed for good: end visibly (FulfillmentAlert, status) instead of failing the workflow,
        so ops find the return and nothing is left to retry blindly. No money moves before the refund step."""
        code, message = failure_code(failure)
        workflow.logger.error("return %s stopped at %s: %s %s", rma.rma_id, self.status, code, message)
        workflow.upsert_search_attributes([sa.FULFILLMENT_ALERT.value_set(f"return_failed:{code}")])
        stopped_at, self.status = self.status, "needs_attention"
        await self._release_exchange_stock(rma)
        await self._void_exchange_tax(rma.rma_id)
        await best_effort(self._act(ReturnActivities.set_return_status, rma.rma_id, "needs_attention",
                                    f"stopped while {stopped_at}: {code}: {message}", None), "return status")
        return self.status

    async def _handle(self, rma: ReturnInput) -> str:
        self.lines = rma.lines
        policy = rma.policy
        if not await self._waited(lambda: self.decision is not None, policy.approval_seconds):
            await self._set(rma, "expired", "not decided in time")
            return self.status
        verdict, decision = self.decision
        if verdict == "reject":
            await self._set(rma, "rejected", decision.note, decision.actor)
            return self.status
        await self._set(rma, "approved", decision.note, decision.actor)
        if rma.exchange and workflow.patched(EXCHANGE_VARIANT_PATCH):
            # Gone since the request: the exchange tries again after inspection, else refunds.
            await best_effort(self._act(ReturnActivities.hold_exchange_stock, rma), "exchange stock hold")
        await self._act(ReturnActivities.buy_return_label, rma)
        self.status = "awaiting_return"
        await self._email(NotificationActivities.send_return_approved, rma.rma_id, patch="email-return-approved")
        if not await self._waited(lambda: self.received, policy.ship_back_seconds):
            await self._act(ReturnActivities.refund_return_label, rma.rma_id)
            await self._release_exchange_stock(rma)
            await self._set(rma, "expired", "the parcel was not sent back in time")
            return self.status
        await self._act(ReturnActivities.mark_received, rma)
        self.status = "received"
        await workflow.wait_condition(lambda: self.inspection is not None)
        await self._act(ReturnActivities.apply_inspection, rma, self.inspection)
        self.status = "inspected"
        accepted = accepted_units(self.inspection)
        if not accepted:
            await self._set(rma, "completed", "nothing accepted for refund")
            return self.status
        if rma.exchange:
            return await self._exchange(rma, accepted)
        return await self._refund_accepted(rma, accepted)

    async def _refund_accepted(self, rma: ReturnInput, accepted: dict[str, int]) -> str:
        try:
            await self._refund(rma, accepted)
        except ActivityError as failure:
            return await self._refund_failed(rma, failure)
        self.status = "refunded"
        await self._email(NotificationActivities.send_return_refunded, rma.rma_id, patch="email-return-refunded")
        return self.status

    async def _refund_failed(self, rma: ReturnInput, failure: ActivityError) -> str:
        code, message = failure_code(failure)
        await self._set(rma, "refund_failed", f"{code}: {message}")
        workflow.upsert_search_attributes([sa.FULFILLMENT_ALERT.value_set(f"return_refund_failed:{code}")])
        return self.status

    async def _refund(self, rma: ReturnInput, accepted: dict[str, int]) -> None:
        """Refund the accepted units; raises ActivityError when refused. An unanswered refund may have been
        made: it is retried under the same refund id (never a new one) with a visible alert, never reported
        failed (before the patch it was, while the money had gone back)."""
        await self._until_answered(ReturnActivities.refund_return, rma, accepted, alert="return_refund_unknown")

    async def _until_answered(self, method, *args, alert: str):
        """Run a money step whose unanswered outcome may have happened: ask again under the same ids (never new
        ones) every REFUND_RETRY_PAUSE, with ``alert`` visible meanwhile; a refusal raises ActivityError."""
        alerted = False
        while True:
            try:
                result = await self._act(method, *args)
                break
            except ActivityError as failure:
                if failure_code(failure)[0] != "provider_unavailable" or not workflow.patched(REFUND_UNKNOWN_PATCH):
                    raise
            if not alerted:
                workflow.upsert_search_attributes([sa.FULFILLMENT_ALERT.value_set(alert)])
                alerted = True
            await workflow.sleep(REFUND_RETRY_PAUSE)
        if alerted:
            workflow.upsert_search_attributes([sa.FULFILLMENT_ALERT.value_unset()])
        return result

    async def _exchange(self, rma: ReturnInput, accepted: dict[str, int]) -> str:
        if workflow.patched(EXCHANGE_VARIANT_PATCH):
            return await self._exchange_variants(rma, accepted)
        order_id = public_id("order", workflow.uuid4())
        try:
            # Every argument the activity takes: fewer, and Temporal decodes them untyped (dicts).
            order_id = await self._act(ReturnActivities.create_exchange_order, rma, accepted, order_id, None, None)
        except ActivityError as failure:  # e.g. out of stock: give the money back instead
            workflow.logger.warning("exchange for %s not possible (%s); refunding", rma.rma_id, failure_code(failure))
            await self._act(ReturnActivities.refund_return, rma, accepted)
            self.status = "refunded"
            await self._email(NotificationActivities.send_return_refunded, rma.rma_id, patch="email-return-refunded")
            return self.status
        await self._ship_replacement(order_id)
        return self.status

    async def _ship_replacement(self, order_id: str) -> None:
        await workflow.start_child_workflow(
            FulfillmentWorkflow.run, FulfillmentInput(order_id=order_id), id=workflow_ids.order(order_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
            search_attributes=TypedSearchAttributes([SearchAttributePair(sa.ORDER_ID, order_id)]),
        )
        self.status = "exchanged"

    async def _exchange_variants(self, rma: ReturnInput, accepted: dict[str, int]) -> str:
        """Replace the accepted units (by the chosen variants) at today's prices. A dearer replacement is paid
        for before it exists, so a declined card never ships it; a cheaper one's difference is refunded after."""
        try:
            terms = await self._act(ReturnActivities.prepare_exchange, rma, accepted)
        except ActivityError as failure:  # out of stock, or the variant is no longer sold: refund instead
            if failure_code(failure)[0] == "provider_unavailable":
                raise  # our database, not the exchange: a person looks (needs_attention) rather than a refund
            workflow.logger.warning("exchange for %s not possible (%s); refunding", rma.rma_id, failure_code(failure))
            await self._act(ReturnActivities.release_exchange_stock, rma.rma_id)
            return await self._refund_accepted(rma, accepted)
        charged = None
        if terms.difference > 0:
            try:
                charged = await self._until_answered(ReturnActivities.charge_exchange_difference, rma, terms,
                                                     alert="return_exchange_charge_unknown")
            except ActivityError as failure:
                return await self._exchange_payment_failed(rma, failure)
        reports_tax = charged is not None and workflow.patched(EXCHANGE_TAX_PATCH)
        if reports_tax:
            tax, unanswered = await self._commit_exchange_tax(rma, terms)
        order_id = await self._act(ReturnActivities.create_exchange_order, rma, accepted,
                                   public_id("order", workflow.uuid4()), terms, charged)
        self.tax_to_void = None  # the replacement exists: its document stands
        await self._ship_replacement(order_id)
        if reports_tax:
            await self._record_exchange_tax(rma, terms, tax, unanswered)
        if terms.to_refund:
            try:
                await self._until_answered(ReturnActivities.refund_exchange_difference, rma, terms,
                                           alert="return_refund_unknown")
            except ActivityError as failure:
                return await self._refund_failed(rma, failure)
            await self._email(NotificationActivities.send_return_refunded, rma.rma_id, patch="email-return-refunded")
        return self.status

    async def _commit_exchange_tax(self, rma: ReturnInput, terms) -> tuple:
        """Report the paid difference's tax before the replacement exists (voided if it never will). Retried under
        the same document code (the provider adjusts it rather than adding one). It never stops the exchange, the
        customer has paid: refused, ops are alerted and the replacement ships unreported; unanswered, it is asked
        again once the replacement has shipped. (committed TaxQuote or None, unanswered)."""
        self.tax_to_void = exchange_tax_document(rma.rma_id)  # even unanswered, it may have been committed
        try:
            return await self._act(ReturnActivities.commit_exchange_tax, rma, terms), False
        except ActivityError as failure:
            code, message = failure_code(failure)
        workflow.logger.error("exchange tax for %s not committed: %s %s", rma.rma_id, code, message)
        unanswered = code == "provider_unavailable"
        alert = "return_exchange_tax_unknown" if unanswered else f"return_exchange_tax_failed:{code}"
        workflow.upsert_search_attributes([sa.FULFILLMENT_ALERT.value_set(alert)])
        return None, unanswered

    async def _record_exchange_tax(self, rma: ReturnInput, terms, committed, unanswered: bool) -> None:
        """Once the replacement exists: commit an unanswered document now, and record it on the order (bookkeeping
        only, so it never stops the return: the document is committed whether or not the order says so)."""
        if unanswered:
            committed = await self._commit_exchange_tax_late(rma, terms)
        if committed is not None:
            await best_effort(self._act(ReturnActivities.record_exchange_tax, rma.rma_id, committed),
                              "exchange tax record")

    async def _commit_exchange_tax_late(self, rma: ReturnInput, terms):
        """The commit went unanswered: ask again (same document code) until the provider answers. The alert goes
        once committed (the committed TaxQuote is returned), stays if refused (None)."""
        try:
            committed = await self._until_answered(ReturnActivities.commit_exchange_tax, rma, terms,
                                                   alert="return_exchange_tax_unknown")
        except ActivityError as failure:
            code, _ = failure_code(failure)
            workflow.upsert_search_attributes([sa.FULFILLMENT_ALERT.value_set(f"return_exchange_tax_failed:{code}")])
            return None
        workflow.upsert_search_attributes([sa.FULFILLMENT_ALERT.value_unset()])
        return committed

    async def _void_exchange_tax(self, rma_id: str) -> None:
        """Compensation: the replacement will not be created, so the document reporting its sale is voided (the
        provider ignores a code it never committed), unless the replacement was created after all (its creation
        committed, its answer lost): void_exchange_tax looks. A void that fails leaves tax reported for a sale
        that did not happen: ops are alerted."""
        if self.tax_to_void is None:
            return
        try:
            await self._act(ReturnActivities.void_exchange_tax, rma_id, self.tax_to_void)
        except ActivityError as failure:
            code, message = failure_code(failure)
            workflow.logger.error("exchange tax document %s not voided: %s %s", self.tax_to_void, code, message)
            # Added to the alert already set (return_failed:…, which tells ops the difference was captured and
            # no replacement exists), not in its place: a search by either prefix finds the return.
            current = workflow.info().typed_search_attributes.get(sa.FULFILLMENT_ALERT)
            unvoided = f"return_exchange_tax_unvoided:{code}"
            workflow.upsert_search_attributes([sa.FULFILLMENT_ALERT.value_set(
                f"{current}|{unvoided}" if current else unvoided)])
            return
        self.tax_to_void = None

    async def _exchange_payment_failed(self, rma: ReturnInput, failure: ActivityError) -> str:
        """The card refused the difference: the replacement never ships, its stock goes back, the customer is
        told and support finds the return in returns_needing_attention."""
        code, message = failure_code(failure)
        await self._act(ReturnActivities.release_exchange_stock, rma.rma_id)
        await self._set(rma, "exchange_payment_failed", f"{code}: {message}")
        workflow.upsert_search_attributes([sa.FULFILLMENT_ALERT.value_set(f"return_exchange_payment_failed:{code}")])
        await best_effort(self._act(NotificationActivities.send_exchange_payment_failed, rma.rma_id), "notification")
        return self.status

    async def _release_exchange_stock(self, rma: ReturnInput) -> None:
        """The exchange will not happen: its held stock goes back (returns from before the patch held none)."""
        if rma.exchange and workflow.patched(EXCHANGE_VARIANT_PATCH):
            await best_effort(self._act(ReturnActivities.release_exchange_stock, rma.rma_id), "exchange stock release")

    async def _waited(self, condition, seconds: int) -> bool:
        try:
            await workflow.wait_condition(condition, timeout=timedelta(seconds=seconds))
            return True
        except asyncio.TimeoutError:
            return False

    # ---- support decisions
    @workflow.update
    def approve(self, decision: Decision) -> str:
        self.decision = ("approve", decision)
        return "approved"

    @workflow.update
    def reject(self, decision: Decision) -> str:
        self.decision = ("reject", decision)
        return "rejected"

    @approve.validator
    def _can_approve(self, decision: Decision) -> None:
        self._require_status("requested")

    @reject.validator
    def _can_reject(self, decision: Decision) -> None:
        self._require_status("requested")

    # ---- warehouse and carrier
    @workflow.update
    def receive(self) -> str:
        self.received = True
        return "received"

    @receive.validator
    def _can_receive(self) -> None:
        # Also while the label is being bought: the parcel may beat our bookkeeping.
        if self.status not in ("approved", "awaiting_return") or self.received:
            raise ApplicationError(f"the return is {self.status}", type="return_state_conflict")

    @workflow.signal
    def tracking_update(self, event: TrackingEvent) -> None:
        if event.status == "delivered" and self.status in ("approved", "awaiting_return"):
            self.received = True

    @workflow.update
    def inspect(self, inspection: Inspection) -> str:
        self.inspection = inspection
        return "inspected"

    @inspect.validator
    def _can_inspect(self, inspection: Inspection) -> None:
        # Once the parcel is in (even while we are still recording its arrival), not twice.
        if not self.received or self.inspection is not None:
            raise ApplicationError(f"the return is {self.status}", type="return_state_conflict")
        try:
            check_inspection(self.lines, inspection)
        except DomainError as wrong:
            raise ApplicationError(wrong.message, type=wrong.code) from None

    def _require_status(self, expected: str) -> None:
        if self.status != expected or (expected == "requested" and self.decision is not None):
            raise ApplicationError(f"the return is {self.status}", type="return_state_conflict")
