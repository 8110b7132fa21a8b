"""A subscription: a durable timer to each renewal, then reserve → reprice → charge → order → fulfillment.

One run per cycle: the run sleeps until its renewal is due, renews (or skips), then continues-as-new
with the next period, carrying the whole state in its input, so history stays bounded for life.
Customers act through updates (validated, so a refusal never enters history and the API gets an
answer): pause, resume, skip, change, cancel, payment method.

Changes apply from the next cycle and nothing is prorated: new quantities are charged at the next
renewal; a new interval keeps the renewal already scheduled and counts the following ones from it.
A declined charge is retried on the dunning schedule (a new card retries at once); after the last
decline the subscription is past_due, then cancelled. Only a definite decline moves on to a new
idempotency key: a charge with no answer (its retries spent on timeouts) may have gone through, so it
is asked again under the same key, with a ``SubscriptionAlert`` and an event saying why, until the
provider answers. Steps that only touch our database (recording, releasing stock) outlast an outage.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.notifications import NotificationActivities
    from activities.interfaces.checkout import InventoryActivities, ShippingActivities, TaxActivities
    from activities.interfaces.payments import PaymentActivities
    from activities.interfaces.subscriptions import SubscriptionActivities
    from models import workflow_ids
    from models.commerce import OrderDraft, order_total
    from models.fulfillment import FulfillmentInput
    from models.ids import public_id
    from models.subscriptions import (
        CancelRequest, ChangeRequest, DunningState, PauseRequest, PaymentMethodRequest, RenewalOrder, Schedule,
        SubscriptionEvent, SubscriptionState, SubscriptionView, dunning_retry_at, next_period, next_renewal,
        renewal_at, renewal_date, view,
    )
    from workflows import search_attributes as sa
    from workflows.common import PROVIDER_BUDGET, STEP_RETRY, best_effort, failure_code
    from workflows.fulfillment import FulfillmentWorkflow

ORDER_NAMESPACE = uuid.UUID("a4c3d1e2-7f60-4b8e-9d2c-5e1f0a9b3c77")
# A charge keeps retrying its own idempotency key this long before its outcome counts as unknown.
CHARGE_BUDGET = timedelta(hours=12)
# Calls retried for hours back off to one try every few minutes instead of hammering the provider.
LONG_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                         maximum_interval=timedelta(minutes=10))
# An unknown outcome (no answer within the budget) is asked again, under the same key, this often.
OUTCOME_RECHECK = timedelta(hours=1)
# Recording state and releasing stock only touch our database: they outlast a database outage of a day.
BOOKKEEPING_BUDGET = timedelta(days=1)
# Runs before this patch counted an unknown charge outcome as a decline and died on a bookkeeping failure.
SETTLE_OUTCOMES = "renewal-outcomes-settled"
RENEWAL_REMINDER = "renewal-reminder-email"  # a timer and an email before each renewal


def renewal_order_id(subscription_id: str, cycle: int) -> str:
    """The order of a cycle, derived from business ids: one cycle can never make two orders."""
    return public_id("order", uuid.uuid5(ORDER_NAMESPACE, f"{subscription_id}:cycle-{cycle}"))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _refuse(code: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=code, non_retryable=True)


@workflow.defn
class SubscriptionWorkflow:
    @workflow.init
    def __init__(self, state: SubscriptionState) -> None:
        self.s = state.model_copy(deep=True)
        self.dunning: DunningState | None = None
        self.changes = 0  # bumped by every handler: wakes the timer loop
        self.retry_now = False  # a new payment method: retry a failed charge at once
        self.reminded_cycle: int | None = None  # the renewal the customer was reminded of in this run

    @workflow.query
    def describe(self) -> SubscriptionView:
        return view(self.s, self.dunning)

    @workflow.run
    async def run(self, state: SubscriptionState) -> str:
        await self._record(None)
        if await self._wait_until_due():
            await self._renewal_due()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self.s.status == "cancelled":
            return "cancelled"
        workflow.continue_as_new(self.s)

    # ---------------------------------------------------------------- timer
    async def _wait_until_due(self) -> bool:
        """True when the renewal is due; False when cancelled or history asks for a fresh run."""
        while self.s.status != "cancelled" and not workflow.info().is_continue_as_new_suggested():
            now = workflow.now()
            if self.s.status == "paused":
                if self.s.paused_until is not None and now >= self.s.paused_until:
                    self._unpause()
                    await self._record(self._event("resumed", reason="pause_ended"))
                    continue
                await self._sleep_until(self.s.paused_until)
                continue
            due = renewal_at(self.s.schedule, self.s.period)
            if now >= due:
                return True
            if self._reminder_owed(due) and workflow.patched(RENEWAL_REMINDER):
                await self._remind_or_wait(due)
                continue
            await self._sleep_until(due)
        return False

    def _reminder_owed(self, due: datetime) -> bool:
        """A renewal that will charge, not reminded of yet in this run (a repeat after continue-as-new is
        recognised by the activity)."""
        return (self.s.policy.renewal_notice_days > 0 and self.reminded_cycle != self.s.cycle
                and not self.s.skip_next and not self.s.cancel_at_period_end)

    async def _remind_or_wait(self, due: datetime) -> None:
        remind_at = due - timedelta(days=self.s.policy.renewal_notice_days)
        if workflow.now() < remind_at:
            await self._sleep_until(remind_at)  # or until a change; the loop looks again
            return
        self.reminded_cycle = self.s.cycle
        await best_effort(self._act(NotificationActivities.send_renewal_upcoming, self.s.subscription_id,
                                    self.s.cycle, due.date()), "renewal reminder")

    async def _sleep_until(self, moment: datetime | None) -> None:
        seen = self.changes
        await self._wait(moment, lambda: self.changes != seen)

    async def _wait(self, moment: datetime | None, done: Callable[[], bool]) -> None:
        timeout = None if moment is None else max(moment - workflow.now(), timedelta(seconds=1))
        try:
            await workflow.wait_condition(done, timeout=timeout)
        except asyncio.TimeoutError:
            pass

    # ---------------------------------------------------------------- renewal
    async def _renewal_due(self) -> None:
        cycle, day = self.s.cycle, renewal_date(self.s.schedule, self.s.period)
        if self.s.cancel_at_period_end:
            await self._cancel("end_of_period")
            return
        skip = self.s.skip_next
        # From here on "next renewal" means the following one (handlers re-anchor on it).
        self.s.period, self.s.cycle, self.s.skip_next = self.s.period + 1, cycle + 1, False
        if skip:
            await self._record(SubscriptionEvent(event_id=f"cycle-{cycle}:skipped", type="renewal_skipped",
                                                 data={"cycle": cycle, "date": day.isoformat(), "reason": "customer"}))
        else:
            await self._renew(cycle, day)

    async def _renew(self, cycle: int, day: date) -> None:
        policy = self.s.policy
        failures, stock_delays, attempt = 0, 0, 0
        first_failure: datetime | None = None
        grace_until: datetime | None = None
        while self.s.status != "cancelled":
            attempt += 1
            self.retry_now = False  # a new card arriving from here on retries a failed charge at once
            outcome, code, amount = await self._attempt(cycle, day, attempt, failures + 1)
            if outcome == "renewed":
                if self.dunning is not None or self.s.status == "past_due":
                    self.dunning = None
                    self.s.status = "active" if self.s.status == "past_due" else self.s.status
                    await self._record(SubscriptionEvent(event_id=f"cycle-{cycle}:recovered", type="payment_recovered",
                                                         data={"cycle": cycle, "attempt": failures + 1}))
                return
            if outcome == "cancelled":
                return
            if outcome == "out_of_stock" and policy.out_of_stock == "delay" \
                    and stock_delays < policy.out_of_stock_retry_days:
                stock_delays += 1
                await self._record(SubscriptionEvent(event_id=f"cycle-{cycle}:stock-delay-{stock_delays}",
                                                     type="renewal_delayed", data={"cycle": cycle, "reason": code}))
                await self._wait(workflow.now() + timedelta(days=1), lambda: self.s.status == "cancelled")
                continue
            if outcome != "declined":  # out of stock for good, or nothing sellable: no charge this cycle
                await self._record(SubscriptionEvent(event_id=f"cycle-{cycle}:skipped", type="renewal_skipped",
                                                     data={"cycle": cycle, "date": day.isoformat(), "reason": code}))
                return
            failures += 1
            first_failure = first_failure or workflow.now()
            retry_at = dunning_retry_at(first_failure, policy.dunning_retry_days, failures)
            if retry_at is None:
                self.s.status = "past_due"
                grace_until = grace_until or workflow.now() + timedelta(days=policy.past_due_grace_days)
            self.dunning = DunningState(cycle=cycle, failures=failures, last_error=code, next_retry_at=retry_at)
            await self._record(SubscriptionEvent(
                event_id=f"cycle-{cycle}:payment-failed-{failures}", type="payment_failed",
                data={"cycle": cycle, "attempt": failures, "code": code, "amount": amount,
                      "next_retry_at": retry_at.isoformat() if retry_at else None, "status": self.s.status}))
            await best_effort(self._act(SubscriptionActivities.send_payment_failed, self.s.subscription_id, cycle,
                                        failures, amount, retry_at), "payment failed email")
            wake_at = retry_at or grace_until
            if wake_at > workflow.now():
                await self._wait(wake_at, lambda: self.retry_now or self.s.status == "cancelled")
            if retry_at is None and not self.retry_now:
                await self._cancel("payment_failed")
                return

    async def _attempt(self, cycle: int, day: date, attempt: int, charge_no: int) -> tuple[str, str | None, int | None]:
        """One try at the cycle: (renewed | declined | out_of_stock | failed | cancelled, code, amount)."""
        s = self.s
        payment_ref = f"{s.subscription_id}:cycle-{cycle}"
        hold = f"{payment_ref}:stock-{attempt}"
        try:
            reservation = await self._act(SubscriptionActivities.reserve_renewal, hold,
                                          {line.sku: line.quantity for line in s.lines}, workflow.now(),
                                          s.policy.reservation_ttl_seconds, s.policy.out_of_stock == "ship_available")
        except ActivityError as failure:
            code = failure_code(failure)[0]
            return ("out_of_stock" if code == "out_of_stock" else "failed"), code, None
        quantities: dict[str, int] = {}
        for item in reservation.items:
            quantities[item.sku] = quantities.get(item.sku, 0) + item.quantity
        try:
            priced = await self._act(SubscriptionActivities.price_renewal, s.subscription_id, s.currency, quantities,
                                     s.discount_bp)
            shipping = await self._act(ShippingActivities.quote_shipping, priced, s.shipping_address, "standard")
            tax = await self._act(TaxActivities.quote_tax, priced, s.shipping_address, shipping.amount,
                                  f"{payment_ref}:quote")
        except ActivityError as failure:
            await self._release(hold)
            return "failed", failure_code(failure)[0], None
        total = order_total(priced, tax, shipping)
        if s.status == "cancelled":  # cancelled while we were pricing: nothing was charged
            await self._release(hold)
            return "cancelled", None, total
        step = "charge" if charge_no == 1 else f"charge-{charge_no}"
        key = f"{payment_ref}:{step}"
        # Fixed now: asking again under the same key must repeat the very same request (a new card waits).
        charge_args = (payment_ref, s.customer_ref, s.payment_method, total, s.currency, key)
        try:
            charge = await self._until_answered(cycle, step, lambda: self._act(
                SubscriptionActivities.charge_renewal, *charge_args, budget=CHARGE_BUDGET, retry=LONG_RETRY))
        except ActivityError as failure:  # a definite decline: the next dunning attempt may use a new key
            await self._release(hold)
            return "declined", failure_code(failure)[0], total
        order_id = renewal_order_id(s.subscription_id, cycle)
        draft = OrderDraft(order_id=order_id, checkout_id=f"{s.subscription_id}:r{cycle}", cart_id=s.subscription_id,
                           email=s.email, currency=s.currency, shipping_address=s.shipping_address, priced=priced,
                           tax=tax, shipping=shipping, reservation=reservation, authorization=charge,
                           payment_method=s.payment_method)
        renewal = RenewalOrder(subscription_id=s.subscription_id, cycle=cycle, renewal_date=day,
                               payment_ref=payment_ref)
        try:
            # Idempotent per cycle: a transient failure may hide a committed order, so it is asked again, never
            # refunded; only a refusal (e.g. the hold lapsed) gives the money back.
            await self._until_answered(cycle, "order", lambda: self._act(
                SubscriptionActivities.create_renewal_order, draft, renewal, budget=BOOKKEEPING_BUDGET,
                retry=LONG_RETRY))
        except ActivityError as failure:
            await self._give_back(cycle, payment_ref, charge, total)
            await self._release(hold)
            return "failed", failure_code(failure)[0], total
        await workflow.start_child_workflow(
            FulfillmentWorkflow.run, FulfillmentInput(order_id=order_id), id=workflow_ids.order(order_id),
            parent_close_policy=ParentClosePolicy.ABANDON, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes([SearchAttributePair(sa.ORDER_ID, order_id),
                                                     SearchAttributePair(sa.CUSTOMER_EMAIL, s.email)]),
        )
        return "renewed", None, total

    async def _give_back(self, cycle: int, payment_ref: str, charge, total: int) -> None:
        """Refund a cycle's charge under the cycle's one refund key (a repeat replays it, never refunds twice).

        A refusal (e.g. the charge is disputed) leaves the money with us: it raises an alert, not the workflow."""
        try:
            await self._until_answered(cycle, "refund", lambda: self._act(
                PaymentActivities.refund_payment, payment_ref, charge, total, f"{payment_ref}:refund",
                budget=CHARGE_BUDGET, retry=LONG_RETRY))
        except ActivityError as failure:
            if not workflow.patched(SETTLE_OUTCOMES):
                raise
            code = failure_code(failure)[0]
            workflow.logger.error("renewal refund of %s refused (%s): refund it by hand", payment_ref, code)
            await self._alert("refund_failed", SubscriptionEvent(
                event_id=f"cycle-{cycle}:refund-failed", type="refund_failed",
                data={"cycle": cycle, "amount": total, "code": code}))

    async def _until_answered(self, cycle: int, step: str, call: Callable[[], Awaitable]):
        """Run a call whose effect may have happened until it answers; only a definite refusal raises.

        An unknown outcome (its retry budget spent without an answer) is asked again under the same
        key after ``OUTCOME_RECHECK``; meanwhile the subscription carries an alert and an event says why.
        """
        unknown = False
        while True:
            try:
                result = await call()
            except ActivityError as failure:
                if failure_code(failure)[0] != "provider_unavailable" or not workflow.patched(SETTLE_OUTCOMES):
                    raise
                if not unknown:
                    unknown = True
                    workflow.logger.error("renewal %s of cycle %s has an unknown outcome: asking again", step, cycle)
                    await self._alert(f"{step}_outcome_unknown", SubscriptionEvent(
                        event_id=f"cycle-{cycle}:{step}:outcome-unknown", type="outcome_unknown",
                        data={"cycle": cycle, "step": step, "recheck_every_seconds": OUTCOME_RECHECK.total_seconds()}))
                await workflow.sleep(OUTCOME_RECHECK)
                continue
            if unknown:
                await self._alert(None, SubscriptionEvent(
                    event_id=f"cycle-{cycle}:{step}:outcome-known", type="outcome_known",
                    data={"cycle": cycle, "step": step}))
            return result

    async def _alert(self, alert: str | None, event: SubscriptionEvent) -> None:
        """Set (or clear, with None) the SubscriptionAlert ops filter on, and record why."""
        workflow.upsert_search_attributes([
            sa.SUBSCRIPTION_ALERT.value_set(alert) if alert else sa.SUBSCRIPTION_ALERT.value_unset()])
        await self._record(event)

    async def _release(self, hold: str) -> None:
        try:
            await self._act(InventoryActivities.release_reservation, hold, budget=BOOKKEEPING_BUDGET,
                            retry=LONG_RETRY)
        except ActivityError as failure:
            if not workflow.patched(SETTLE_OUTCOMES):
                raise
            # The hold is not lost: the reservation sweeper frees it when it expires.
            workflow.logger.error("stock hold %s not released (%s): it lapses at its expiry", hold,
                                  failure_code(failure)[0])

    async def _act(self, method, *args, budget: timedelta = PROVIDER_BUDGET, retry: RetryPolicy = STEP_RETRY):
        return await workflow.execute_activity_method(
            method, args=list(args), start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=budget, retry_policy=retry,
        )

    # ---------------------------------------------------------------- state
    def _event(self, kind: str, **data) -> SubscriptionEvent:
        """An event named by the state version it produces (unique for the subscription's life)."""
        return SubscriptionEvent(event_id=f"v{self.s.version + 1}:{kind}", type=kind, data=data)

    async def _record(self, event: SubscriptionEvent | None) -> None:
        """Publish the current state: search attributes now, the database row through an activity."""
        self.s.version += 1
        self.changes += 1
        upcoming = next_renewal(self.s)
        workflow.upsert_search_attributes([
            sa.SUBSCRIPTION_STATUS.value_set(self.s.status),
            sa.NEXT_RENEWAL_AT.value_set(upcoming) if upcoming else sa.NEXT_RENEWAL_AT.value_unset(),
        ])
        try:
            await self._act(SubscriptionActivities.record, view(self.s, self.dunning), event,
                            budget=BOOKKEEPING_BUDGET, retry=LONG_RETRY)
        except ActivityError as failure:
            if not workflow.patched(SETTLE_OUTCOMES):
                raise
            # The row catches up at the next record (newest version wins); this event is lost: say so.
            workflow.logger.error("subscription %s not recorded (%s): event %s lost", self.s.subscription_id,
                                  failure_code(failure)[0], event.event_id if event else None)

    def _unpause(self) -> None:
        """Renewals that fell due while paused are skipped: the next one is today or later."""
        self.s.status, self.s.paused_until = "active", None
        self.s.period = next_period(self.s.schedule, workflow.now().date(), self.s.period)

    async def _cancel(self, reason: str) -> None:
        self.s.status, self.s.cancel_reason, self.s.cancel_at_period_end = "cancelled", reason, False
        await self._record(SubscriptionEvent(event_id="cancelled", type="cancelled", data={"reason": reason}))

    def _refuse_if_cancelled(self) -> None:
        if self.s.status == "cancelled":
            raise _refuse("subscription_cancelled", "the subscription is cancelled")

    # ---------------------------------------------------------------- customer actions
    @workflow.update
    async def pause(self, request: PauseRequest) -> SubscriptionView:
        self.s.status = "paused"
        self.s.paused_until = _midnight(request.until) if request.until else None
        await self._record(self._event("paused", until=request.until.isoformat() if request.until else None))
        return self.describe()

    @pause.validator
    def _check_pause(self, request: PauseRequest) -> None:
        self._refuse_if_cancelled()
        if self.s.status == "past_due":
            raise _refuse("subscription_past_due", "update the payment method first")
        if self.dunning is not None:
            # A paused subscription must not be charged, but the failed cycle's retries are already
            # scheduled: settle the payment first (a new card retries at once), then pause.
            raise _refuse("subscription_payment_failing",
                          "a renewal payment is failing: update the payment method first")
        if request.until is not None and request.until <= workflow.now().date():
            raise _refuse("invalid_pause_until", "pause until a date after today")

    @workflow.update
    async def resume(self) -> SubscriptionView:
        self._unpause()
        await self._record(self._event("resumed", reason="customer"))
        return self.describe()

    @resume.validator
    def _check_resume(self) -> None:
        self._refuse_if_cancelled()
        if self.s.status != "paused":
            raise _refuse("subscription_not_paused", f"the subscription is {self.s.status}, not paused")

    @workflow.update
    async def skip_next(self) -> SubscriptionView:
        self.s.skip_next = True
        skipped = renewal_date(self.s.schedule, self.s.period)
        await self._record(self._event("skip_requested", date=skipped.isoformat()))
        return self.describe()

    @skip_next.validator
    def _check_skip(self) -> None:
        self._refuse_if_cancelled()

    @workflow.update
    async def change(self, request: ChangeRequest) -> SubscriptionView:
        """New lines and/or interval, from the next cycle on; the current cycle is not prorated.

        A new interval is anchored on the renewal already scheduled: that one keeps its date, the
        ones after it follow the new interval.
        """
        if request.lines is not None:
            self.s.lines = request.lines
        if request.interval is not None and (request.interval, request.every_n_days) != \
                (self.s.schedule.interval, self.s.schedule.every_n_days):
            anchor = renewal_date(self.s.schedule, self.s.period)
            self.s.schedule = Schedule(interval=request.interval, every_n_days=request.every_n_days, anchor=anchor)
            self.s.period = 0
        await self._record(self._event("changed", **request.model_dump(mode="json", exclude_none=True)))
        return self.describe()

    @change.validator
    def _check_change(self, request: ChangeRequest) -> None:
        self._refuse_if_cancelled()

    @workflow.update
    async def cancel(self, request: CancelRequest) -> SubscriptionView:
        if request.at_period_end:
            self.s.cancel_at_period_end = True
            await self._record(self._event("cancel_scheduled"))
        else:
            await self._cancel("customer")
        return self.describe()

    @cancel.validator
    def _check_cancel(self, request: CancelRequest) -> None:
        self._refuse_if_cancelled()

    @workflow.update
    async def update_payment_method(self, request: PaymentMethodRequest) -> SubscriptionView:
        """Save the new method with the provider; a renewal waiting on a failed charge retries at once."""
        self.s.payment_method_version += 1
        key = f"{self.s.subscription_id}:payment-method-{self.s.payment_method_version}"
        try:
            customer_ref = await self._act(SubscriptionActivities.save_payment_method, self.s.email,
                                           request.payment_method, key)
        except ActivityError as failure:
            raise _refuse(*failure_code(failure)) from None
        self.s.customer_ref, self.s.payment_method = customer_ref, request.payment_method
        self.retry_now = True
        await self._record(self._event("payment_method_updated", payment_method=request.payment_method))
        return self.describe()

    @update_payment_method.validator
    def _check_payment_method(self, request: PaymentMethodRequest) -> None:
        self._refuse_if_cancelled()
