"""Checkout saga: validate → price → shipping → tax → fraud screen → reserve → authorize → create order.

Each step that succeeded registers its compensation; a failure runs them in reverse
and records the checkout as failed with the business error code.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import Priority, SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.workflow import ParentClosePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.checkout import (
        CartActivities, InventoryActivities, OrderActivities, PricingActivities, ShippingActivities, TaxActivities,
    )
    from activities.interfaces.checkout_preparation import CheckoutPreparationActivities
    from activities.interfaces.fraud import FraudActivities
    from activities.interfaces.payments import PaymentActivities
    from models import workflow_ids
    from models.commerce import (
        CheckoutError, CheckoutInput, CheckoutResult, OrderDraft, order_total, screening_request, wanted_units,
    )
    from models.fraud import FraudAssessment, ReviewDecision
    from models.payments import checkout_authorization_key
    from models.fulfillment import FulfillmentInput
    from workflows import search_attributes as sa
    from workflows.common import PROVIDER_BUDGET, STEP_RETRY, failure_code, run_local
    from workflows.fulfillment import FulfillmentWorkflow

# Checkouts from this patch on run their short database-only steps (cart lock, pricing, fraud score,
# reservation, order insert) as local activities: they run inside the workflow task that schedules them,
# and create_order starts the order's fulfillment itself (no child start to wait a workflow task for), so a
# checkout costs the Temporal server 4 workflow tasks instead of 10. Their bodies are idempotent per checkout,
# as a local activity reruns if the worker dies before the task completes. Every patch older than this one is
# implied by it (and no longer recorded), and the order total is set with the outcome (one upsert).
LOCAL_STEPS_PATCH = "local-database-steps"
# From this patch on the two quotes (shipping rate, tax) are local activities too: both are read-only at the
# provider (a rate, an uncommitted SalesOrder), so rerunning them after a worker crash is harmless, and the
# checkout's first workflow task runs everything up to the payment: 2 workflow tasks and 1 activity task in all.
# It implies LOCAL_STEPS_PATCH (recorded instead of it).
LOCAL_QUOTES_PATCH = "local-provider-quotes"
# From this patch on everything up to the payment (cart lock, pricing, both quotes, fraud score, reservation) is
# ONE local activity, prepare_checkout: each local activity had cost a round trip through the worker's event
# loop inside the workflow task, and under load those six hops made most of a checkout's time. It implies
# LOCAL_QUOTES_PATCH (recorded instead of it).
PREPARED_PATCH = "prepared-checkout"
# prepare_checkout makes three provider calls (the carrier's address check and rates, the tax quote; 20 s client
# timeout each) and opens three transactions (each may wait up to 30 s for a pool connection): one attempt may
# take all of that before it is given up and run again.
PREPARE_TIMEOUT = timedelta(seconds=150)
# Compensations must eventually happen; they keep retrying far longer than forward steps.
COMPENSATION_TIMEOUT = timedelta(hours=1)
# The payment call may take up to a minute, but a worker that dies during it is noticed in seconds.
PAYMENT_HEARTBEAT = timedelta(seconds=10)
# Checkouts run at priority 2 (services/checkout.CHECKOUT_PRIORITY) and their tasks inherit it; the payment and an
# order the checkout starts itself do not. On a rate-limited PAYMENTS_TASK_QUEUE an authorization ahead of every
# capture, refund and renewal charge would keep those waiting for as long as a sale lasts; an order started here
# (create_order went unanswered) would take priority 2 to all its parcels for days.
DEFAULT_PRIORITY = Priority(priority_key=3)


@workflow.defn
class CheckoutWorkflow:
    def __init__(self) -> None:
        self.step = "started"
        self.compensations: list[tuple] = []
        self.authentication: str | None = None  # succeeded | failed, from the payment webhook
        self.payment_action: dict | None = None
        self.review: ReviewDecision | None = None  # support's verdict while held for fraud review
        self.review_open = False
        self.budget = PROVIDER_BUDGET
        self.failure: CheckoutError | None = None  # what the checkout failed with, once compensating
        self.local_steps = False  # LOCAL_STEPS_PATCH: decided once, at the start
        self.local_quotes = False  # LOCAL_QUOTES_PATCH: likewise
        self.prepared = False  # PREPARED_PATCH: likewise
        self.order_total: int | None = None  # upserted with the outcome since LOCAL_STEPS_PATCH

    @workflow.query
    def current_step(self) -> str:
        return self.step

    async def _run(self, method, *args, timeout: float = 30, heartbeat: timedelta | None = None,
                   priority: Priority = Priority.default):
        return await workflow.execute_activity_method(
            method, args=list(args), start_to_close_timeout=timedelta(seconds=timeout),
            schedule_to_close_timeout=self.budget, retry_policy=STEP_RETRY, heartbeat_timeout=heartbeat,
            priority=priority,
        )

    def _since(self, patch_id: str) -> bool:
        """``workflow.patched(patch_id)`` for a patch older than LOCAL_STEPS_PATCH, which implies it."""
        return self.local_steps or workflow.patched(patch_id)

    async def _run_db(self, method, *args):
        """A short database-only step: a local activity since LOCAL_STEPS_PATCH, a normal one before.

        Same retry budget either way: schedule-to-close is the provider budget (see ``run_local``)."""
        if not self.local_steps:
            return await self._run(method, *args)
        return await run_local(method, *args, budget=self.budget)

    async def _quote(self, method, *args):
        """A provider quote: a normal activity, or since LOCAL_QUOTES_PATCH a local one (read-only at the provider,
        so it may rerun), with the same budget."""
        if not self.local_quotes:
            return await self._run(method, *args)
        return await run_local(method, *args, budget=self.budget)

    def _set_status(self, status: str) -> None:
        """The CheckoutStatus search attribute; since LOCAL_STEPS_PATCH the order total rides along."""
        pairs = [sa.CHECKOUT_STATUS.value_set(status)]
        if self.local_steps and self.order_total is not None:
            pairs.append(sa.ORDER_TOTAL.value_set(self.order_total))
        workflow.upsert_search_attributes(pairs)

    @workflow.run
    async def run(self, checkout: CheckoutInput) -> CheckoutResult:
        try:
            return await self._checkout(checkout)
        except ActivityError as failure:
            # Settling a failed checkout failed past its budget: say so rather than fail the workflow.
            if self.failure is None or not self._since("compensate-every-step"):
                raise
            workflow.logger.error("failed checkout left unsettled: %s", failure_code(failure)[0])
            self.step = "failed"
            self._set_status("compensation_failed")
            return CheckoutResult(checkout_id=checkout.checkout_id, status="failed", error=self.failure)

    async def _checkout(self, checkout: CheckoutInput) -> CheckoutResult:
        # One marker per checkout: a new one records only the newest patch, which implies the older one.
        self.prepared = workflow.patched(PREPARED_PATCH)
        self.local_quotes = self.prepared or workflow.patched(LOCAL_QUOTES_PATCH)
        self.local_steps = self.local_quotes or workflow.patched(LOCAL_STEPS_PATCH)
        if checkout.provider_budget_seconds:
            self.budget = timedelta(seconds=checkout.provider_budget_seconds)
        try:
            order_id = await self._place_order(checkout)
        except (ActivityError, CheckoutRefused) as failure:
            error = _business_error(failure)
            unanswered = self.step == "authorizing" and error.code == "checkout_unavailable"
            self.step = "compensating"
            undone = await self._compensate(error)
            if unanswered and self._since("settle-unanswered-authorization"):
                if self._since("look-up-unanswered-authorization"):
                    # The provider never answered: ask it what it did under our key, release a hold it made,
                    # and say so; what it still cannot tell stays pending for reconciliation.
                    try:
                        outcome = await workflow.execute_activity_method(
                            PaymentActivities.settle_unanswered_authorization,
                            args=[checkout.checkout_id, checkout_authorization_key(checkout.checkout_id),
                                  f"{checkout.checkout_id}:void"],
                            start_to_close_timeout=timedelta(seconds=60),
                            schedule_to_close_timeout=COMPENSATION_TIMEOUT, retry_policy=STEP_RETRY)
                    except ActivityError:
                        outcome = "unsettled"
                    error = CheckoutError(code=error.code, message=PaymentActivities.UNANSWERED_MESSAGES[outcome])
                else:  # histories from before the look-up closed the entry as failed without asking
                    await workflow.execute_activity_method(
                        PaymentActivities.abandon_authorization, checkout_authorization_key(checkout.checkout_id),
                        start_to_close_timeout=timedelta(seconds=30), schedule_to_close_timeout=COMPENSATION_TIMEOUT,
                        retry_policy=STEP_RETRY)
            await self._run(OrderActivities.fail_checkout, checkout.checkout_id, error.code, error.message)
            self.step = "failed"
            # Ops find what a compensation left undone with `CheckoutStatus = 'compensation_failed'`.
            status = "compensation_failed" if undone else "failed"
            self._set_status(status)
            workflow.logger.info("checkout failed: %s", error.code)
            return CheckoutResult(checkout_id=checkout.checkout_id, status="failed", error=error)
        self.step = "completed"
        self._set_status("completed")
        return CheckoutResult(checkout_id=checkout.checkout_id, status="completed", order_id=order_id)

    async def _place_order(self, checkout: CheckoutInput) -> str:
        key = checkout.checkout_id
        if self.prepared:
            priced, shipping, tax, reservation = await self._prepare(checkout)
        else:
            priced, shipping, tax, reservation = await self._step_by_step(checkout)

        self.step = "authorizing"
        total = order_total(priced, tax, shipping)
        authorization = await self._run(PaymentActivities.authorize_payment, key, total, priced.currency,
                                        checkout.payment_method, checkout_authorization_key(key), timeout=60,
                                        heartbeat=PAYMENT_HEARTBEAT, priority=DEFAULT_PRIORITY)
        self.compensations.append((PaymentActivities.void_authorization, key, authorization, f"{key}:void"))
        if authorization.status == "requires_action" and self._since("3ds-authentication"):
            authorization = await self._authenticate(checkout, authorization)

        self.step = "creating_order"
        # Orders placed before fulfillment existed were completed without it.
        fulfil = self._since("start-fulfillment")
        draft = OrderDraft(
            order_id=checkout.order_id, checkout_id=key, cart_id=checkout.cart_id, email=checkout.email,
            currency=priced.currency, shipping_address=checkout.shipping_address, priced=priced, tax=tax,
            shipping=shipping, reservation=reservation, authorization=authorization,
            payment_method=checkout.payment_method if fulfil else None, start_fulfillment=self.local_steps,
        )
        self.order_total = draft.total
        if not self.local_steps:
            workflow.upsert_search_attributes([sa.ORDER_TOTAL.value_set(draft.total)])
        order_id, answered = await self._create_order(draft)
        if fulfil and not (answered and draft.start_fulfillment):
            await self._start_fulfillment(order_id, checkout.email)
        return order_id

    async def _prepare(self, checkout: CheckoutInput):
        """Since PREPARED_PATCH: every step up to the payment in one local activity; a checkout sent to fraud
        review comes back without stock held, and holds it once approved."""
        key = checkout.checkout_id
        self.step = "preparing"
        # Both undos come first: the activity may have locked the cart or held stock before an answer that was
        # lost (undoing what was never done is a no-op: the cart reopens only for this checkout, the release
        # only frees this checkout's key).
        self.compensations.append((CartActivities.reopen_cart, checkout.cart_id, key))
        self.compensations.append((InventoryActivities.release_reservation, key))
        prepared = await run_local(CheckoutPreparationActivities.prepare_checkout, checkout, workflow.now(),
                                   budget=self.budget, timeout=PREPARE_TIMEOUT)
        reservation = prepared.reservation
        if reservation is None:  # screening did not approve: reject, or wait for a review
            await self._judge(checkout, prepared.assessment)
            self.step = "reserving"
            reservation = await self._run_db(InventoryActivities.reserve_inventory, key, wanted_units(prepared.priced),
                                             workflow.now(), checkout.reservation_ttl_seconds)
        return prepared.priced, prepared.shipping, prepared.tax, reservation

    async def _step_by_step(self, checkout: CheckoutInput):
        """Before PREPARED_PATCH: one activity (local since LOCAL_STEPS_PATCH) per step."""
        key = checkout.checkout_id
        self.step = "validating"
        cart = await self._run_db(CartActivities.begin_checkout, checkout.cart_id, key)
        self.compensations.append((CartActivities.reopen_cart, checkout.cart_id, key))

        self.step = "pricing"
        priced = await self._run_db(PricingActivities.price_cart, cart)
        self.step = "quoting_shipping"
        shipping = await self._quote(ShippingActivities.quote_shipping, priced, checkout.shipping_address,
                                   checkout.shipping_speed)
        self.step = "quoting_tax"
        tax = await self._quote(TaxActivities.quote_tax, priced, checkout.shipping_address, shipping.amount,
                              f"{key}:quote")

        # Checkouts started before fraud screening existed went straight on to reserve stock.
        if self._since("fraud-screening") and checkout.fraud is not None:
            await self._screen(checkout, priced, order_total(priced, tax, shipping))

        self.step = "reserving"
        wanted = wanted_units(priced)
        # An unanswered reserve may still have held stock: its release is registered first (releasing
        # nothing is a no-op). Checkouts before this patch registered it only after an answer.
        release_first = self._since("release-registered-before-reserving")
        if release_first:
            self.compensations.append((InventoryActivities.release_reservation, key))
        reservation = await self._run_db(InventoryActivities.reserve_inventory, key, wanted, workflow.now(),
                                         checkout.reservation_ttl_seconds)
        if not release_first:
            self.compensations.append((InventoryActivities.release_reservation, key))

        return priced, shipping, tax, reservation

    async def _create_order(self, draft: OrderDraft) -> tuple[str, bool]:
        """Record the order; returns its id and whether create_order answered (then it has also started the
        fulfillment, if the draft says so). An unanswered create_order may have committed it: look before
        compensating (voiding the payment of a placed order); checkouts before this patch compensated at once."""
        try:
            return await self._run_db(OrderActivities.create_order, draft), True
        except ActivityError as failure:
            if failure_code(failure)[0] != "provider_unavailable" or not self._since("look-up-unanswered-order"):
                raise
            recorded = await workflow.execute_activity_method(
                OrderActivities.order_recorded, draft.checkout_id, start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=COMPENSATION_TIMEOUT, retry_policy=STEP_RETRY)
            if not recorded:
                raise
            workflow.logger.warning("create_order went unanswered but the order %s was recorded", draft.order_id)
            return draft.order_id, False

    async def _authenticate(self, checkout: CheckoutInput, authorization):
        """3-D Secure: the storefront shows the challenge; Stripe's webhook tells us how it went."""
        self.step = "requires_action"
        self.payment_action = {"type": "three_d_secure", "client_secret": authorization.client_secret,
                               "url": authorization.next_action_url}
        self._set_status("requires_action")
        try:
            await workflow.wait_condition(lambda: self.authentication is not None,
                                          timeout=timedelta(seconds=checkout.authentication_timeout_seconds))
        except asyncio.TimeoutError:
            raise CheckoutRefused("payment_authentication_timeout",
                                  "the card holder did not complete authentication in time") from None
        finally:
            self.payment_action = None
        if self.authentication != "succeeded":
            raise CheckoutRefused("payment_declined", "the card issuer declined the authentication")
        self.step = "authorizing"
        self._set_status("pending")
        return await self._run(PaymentActivities.confirm_authorization, authorization,
                               checkout_authorization_key(checkout.checkout_id), priority=DEFAULT_PRIORITY)

    @workflow.signal
    def payment_authenticated(self) -> None:
        self.authentication = self.authentication or "succeeded"

    @workflow.signal
    def payment_authentication_failed(self) -> None:
        self.authentication = self.authentication or "failed"

    @workflow.query
    def next_action(self) -> dict | None:
        return self.payment_action

    @workflow.query
    def progress(self) -> dict:
        """The step and any 3-D Secure challenge, in one query (one wait for the worker, not two)."""
        return {"step": self.step, "next_action": self.payment_action}

    async def _screen(self, checkout: CheckoutInput, priced, total: int) -> None:
        """Score the checkout (before PREPARED_PATCH, which scores it in prepare_checkout), then judge it."""
        self.step = "screening"
        assessment = await self._run_db(FraudActivities.screen_checkout, screening_request(checkout, priced, total))
        await self._judge(checkout, assessment)

    async def _judge(self, checkout: CheckoutInput, assessment: FraudAssessment) -> None:
        """Approve goes on, reject fails the checkout, review waits for support (or times out)."""
        if assessment.outcome == "reject":
            raise CheckoutRefused("fraud_rejected", "the order was declined by fraud screening")
        if assessment.outcome == "approve":
            return
        self.step, self.review_open = "fraud_review", True
        self._set_status("in_review")
        try:
            await workflow.wait_condition(lambda: self.review is not None,
                                          timeout=timedelta(seconds=checkout.fraud_review_timeout_seconds))
        except asyncio.TimeoutError:
            self.review_open = False
            await self._run(FraudActivities.record_fraud_review, checkout.checkout_id, "timed_out", None, "")
            raise CheckoutRefused("fraud_review_timeout", "the order was not reviewed in time") from None
        self.review_open = False
        decision = self.review
        await self._run(FraudActivities.record_fraud_review, checkout.checkout_id,
                        "approved" if decision.decision == "approve" else "rejected", decision.reviewer, decision.note)
        if decision.decision == "reject":
            raise CheckoutRefused("fraud_rejected", "the order was declined after review")
        self._set_status("pending")

    @workflow.update
    def review_decision(self, decision: ReviewDecision) -> str:
        """Support approves or rejects a checkout held for fraud review."""
        self.review = decision
        return "approved" if decision.decision == "approve" else "rejected"

    @review_decision.validator
    def _can_review(self, decision: ReviewDecision) -> None:
        if not self.review_open or self.review is not None:
            raise ApplicationError(f"the checkout is {self.step}, not waiting for a fraud review",
                                   type="checkout_not_in_review")

    async def _start_fulfillment(self, order_id: str, email: str) -> None:
        """Hand the order to its own long-lived workflow; it outlives this checkout."""
        self.step = "starting_fulfillment"
        try:
            await self._start_fulfillment_child(order_id, email)
        except WorkflowAlreadyStartedError:
            if not self.local_steps:
                raise
            # create_order started it before its answer was lost.

    async def _start_fulfillment_child(self, order_id: str, email: str) -> None:
        await workflow.start_child_workflow(
            FulfillmentWorkflow.run, FulfillmentInput(order_id=order_id), id=workflow_ids.order(order_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, priority=DEFAULT_PRIORITY,
            search_attributes=TypedSearchAttributes([SearchAttributePair(sa.ORDER_ID, order_id),
                                                     SearchAttributePair(sa.CUSTOMER_EMAIL, email)]),
        )

    async def _compensate(self, failure: CheckoutError) -> list[str]:
        """Undo the steps that succeeded, newest first; one that fails does not stop the others.

        Returns the compensations left undone (after their whole budget, or refused for good).
        """
        self.failure = failure
        undone = []
        for method, *args in reversed(self.compensations):
            try:
                await workflow.execute_activity_method(
                    method, args=args, start_to_close_timeout=timedelta(seconds=30),
                    schedule_to_close_timeout=COMPENSATION_TIMEOUT, retry_policy=STEP_RETRY,
                )
            except ActivityError as failure:
                # Checkouts compensated before this patch stopped at the first failure (and failed).
                if not self._since("compensate-every-step"):
                    raise
                undone.append(method.__name__)
                workflow.logger.error("checkout compensation %s left undone: %s", method.__name__,
                                      failure_code(failure)[0])
        self.compensations.clear()
        # What follows settles the failed checkout (its row holds a MAX_INFLIGHT_CHECKOUTS slot until then):
        # it retries as long as a compensation (a timeout change only, no new command).
        self.budget = COMPENSATION_TIMEOUT
        return undone


class CheckoutRefused(Exception):
    """A business outcome decided inside the workflow itself (not by an activity)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _business_error(failure: ActivityError | CheckoutRefused) -> CheckoutError:
    if isinstance(failure, CheckoutRefused):
        return CheckoutError(code=failure.code, message=failure.message)
    code, message = failure_code(failure)
    if code == "provider_unavailable":
        return CheckoutError(code="checkout_unavailable",
                             message="a required service did not respond; nothing was charged")
    return CheckoutError(code=code, message=message)
