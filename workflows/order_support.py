"""Support desk for one order: refunds arrive as updates (the caller needs the answer).

Started on demand with update-with-start (id ``support-<order_id>``); it closes after a
quiet period and continues-as-new when its history grows, so it never runs unbounded.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.notifications import NotificationActivities
    from activities.interfaces.support import SupportActivities
    from models.commerce import Frozen
    from models.refunds import RefundCommand, RefundRequest, RefundResult
    from workflows.common import PROVIDER_BUDGET, STEP_RETRY, best_effort, failure_code


REFUND_LOOKED_UP_PATCH = "unanswered-refund-looked-up"


class SupportInput(Frozen):
    order_id: str
    idle_days: int = 30


class _RefundInFlight:
    """A refund whose activity is running: its request, then its outcome for whoever waits on it."""

    def __init__(self, request: RefundRequest):
        self.request = request
        self.result: RefundResult | None = None
        self.failure: ApplicationError | None = None
        self.done = False


@workflow.defn
class OrderSupportWorkflow:
    def __init__(self) -> None:
        self.refunds: dict[str, tuple[RefundRequest, RefundResult]] = {}
        self.in_flight: dict[str, _RefundInFlight] = {}
        self.busy = 0
        self.touched = False

    @workflow.run
    async def run(self, support: SupportInput) -> str:
        while True:
            self.touched = False
            try:
                await workflow.wait_condition(lambda: self.touched, timeout=timedelta(days=support.idle_days))
            except asyncio.TimeoutError:
                await workflow.wait_condition(lambda: self.busy == 0)
                return "idle"
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(lambda: self.busy == 0)
                workflow.continue_as_new(support)

    @workflow.update
    async def refund(self, command: RefundCommand) -> RefundResult:
        self.touched = True
        if command.refund_id in self.refunds:
            request, result = self.refunds[command.refund_id]
            if request != command.request:
                raise ApplicationError("this Idempotency-Key was already used for a different refund",
                                       type="idempotency_key_reused", non_retryable=True)
            return result
        running = self.in_flight.get(command.refund_id)
        # Before this patch a second update with the same id ran the refund again (both reached the provider).
        if running is not None and workflow.patched("refund-in-flight-once"):
            return await self._outcome_of(running, command)
        running = self.in_flight[command.refund_id] = _RefundInFlight(command.request)
        self.busy += 1
        try:
            running.result = await workflow.execute_activity_method(
                SupportActivities.issue_refund, command, start_to_close_timeout=timedelta(seconds=60),
                schedule_to_close_timeout=PROVIDER_BUDGET, retry_policy=STEP_RETRY,
            )
        except ActivityError as failure:
            running.result = await self._made_after_all(command, failure)
            if running.result is None:
                code, message = failure_code(failure)
                running.failure = ApplicationError(message, type=code, non_retryable=True)
                raise running.failure from None
        finally:
            self.busy -= 1
            running.done = True
            if self.in_flight.get(command.refund_id) is running:
                del self.in_flight[command.refund_id]
        self.refunds[command.refund_id] = (command.request, running.result)
        if workflow.patched("email-refund-issued"):
            self._email_refund(command.order_id, running.result.refund_id)
        return running.result

    @staticmethod
    async def _made_after_all(command: RefundCommand, failure: ActivityError) -> RefundResult | None:
        """An unanswered refund may have been made: the ledger is asked (after the patch; before it the
        caller was told it failed while the money had gone back). None: not made (yet); a retry under the
        same refund id finishes it."""
        if failure_code(failure)[0] != "provider_unavailable" or not workflow.patched(REFUND_LOOKED_UP_PATCH):
            return None
        try:
            return await workflow.execute_activity_method(
                SupportActivities.refund_made, command, start_to_close_timeout=timedelta(seconds=60),
                schedule_to_close_timeout=PROVIDER_BUDGET, retry_policy=STEP_RETRY)
        except ActivityError:  # the database cannot tell either: the caller retries under the same id
            return None

    def _email_refund(self, order_id: str, refund_id: str) -> None:
        """Tell the customer, without keeping support waiting for the mail server; the desk stays busy (it does
        not close or continue-as-new) until the email is sent or given up."""
        self.busy += 1

        async def send() -> None:
            try:
                await best_effort(workflow.execute_activity_method(
                    NotificationActivities.send_refund_issued, args=[order_id, refund_id],
                    start_to_close_timeout=timedelta(seconds=60), schedule_to_close_timeout=PROVIDER_BUDGET,
                    retry_policy=STEP_RETRY), "notification")
            finally:
                self.busy -= 1

        asyncio.create_task(send())  # noqa: RUF006 - the workflow's own deterministic loop; busy tracks it

    async def _outcome_of(self, running: _RefundInFlight, command: RefundCommand) -> RefundResult:
        """A repeat of a refund still running: wait for its outcome rather than ask the provider twice."""
        if running.request != command.request:
            raise ApplicationError("this Idempotency-Key was already used for a different refund",
                                   type="idempotency_key_reused", non_retryable=True)
        self.busy += 1
        try:
            await workflow.wait_condition(lambda: running.done)
        finally:
            self.busy -= 1
        if running.failure is not None:
            raise ApplicationError(running.failure.message, type=running.failure.type, non_retryable=True)
        return running.result

    @refund.validator
    def _refund_is_well_formed(self, command: RefundCommand) -> None:
        request = command.request
        if request.amount is not None and request.amount <= 0:
            raise ApplicationError("refund amount must be positive", type="invalid_amount")
        if request.lines is not None and not request.lines:
            raise ApplicationError("lines may not be empty", type="invalid_lines")

    @workflow.query
    def issued(self) -> list[RefundResult]:
        return [result for _, result in self.refunds.values()]
