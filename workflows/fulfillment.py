"""Order fulfillment: route the order, run one child shipment workflow per location, and
watch the payment authorization so it never silently expires before anything ships."""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.workflow import ParentClosePolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.fulfillment import FulfillmentActivities
    from activities.interfaces.notifications import NotificationActivities
    from activities.interfaces.order_edits import OrderEditActivities
    from activities.interfaces.payments import PaymentActivities
    from models import workflow_ids
    from models.commerce import PaymentAuthorization
    from models.fulfillment import CancelRequest, FulfillmentInput, PlannedShipment, ShipmentInput, ShipmentProgress
    from models.order_edits import (
        EditAuthorization, EditOutcome, EditPlan, OrderEditCommand, OrderEditResult, edit_key, edit_problem,
    )
    from workflows import search_attributes as sa
    from workflows.common import PROVIDER_BUDGET, STEP_RETRY, best_effort, failure_code
    from workflows.persistence import PERSISTENT_BUDGET, PERSISTENT_RETRY, PersistentSteps
    from workflows.shipment import ShipmentWorkflow

FINAL_SHIPMENT_STATES = frozenset({"delivered", "delivery_unconfirmed", "capture_failed", "cancelled", "failed"})
# How long the order waits between tries of a step that must not give up (or an ops retry signal).
ROUTING_RETRY_PAUSE = timedelta(minutes=15)
# Patch ids: each guards a change made after histories of running orders were saved.
CANCEL_DB_FIRST_PATCH = "cancel-database-decides-first"
REFUSED_CANCEL_PATCH = "refused-cancel-carries-on"
COMPENSATE_ALL_PATCH = "cancel-runs-every-compensation"
ROUTING_PERSISTS_PATCH = "routing-persists"
CHILDREN_OUTLIVE_PATCH = "shipments-outlive-siblings"
REAUTH_STEPS_PATCH = "reauthorize-in-steps"
REAUTH_SETTLES_PATCH = "reauthorization-steps-persist-and-settle"
CANCEL_UNANSWERED_PATCH = "unanswered-cancel-asks-the-database"
ORDER_EDITS_PATCH = "order-edits"
EDIT_RELEASE_UNANSWERED_HOLD_PATCH = "edit-release-unanswered-hold"
# Orders from this patch on load and allocate as local activities, back to back in the first workflow task,
# set their routing search attributes in one upsert, and send the confirmation email alongside the parcels'
# start instead of before allocating: routing costs the Temporal server 2 workflow tasks and 1 activity task
# instead of 5 and 3. The patches it implies are no longer recorded (each would cost a marker and an upsert).
LOCAL_ROUTING_PATCH = "fulfillment-local-routing"


@workflow.defn
class FulfillmentWorkflow(PersistentSteps):
    def __init__(self) -> None:
        self.status = "starting"
        self.order_id = ""
        self.shipments: dict[str, str] = {}
        self.children: list = []
        self.alert: str | None = None
        self.retry_requested = False
        self.order = None
        self.shipment_ids: list[str] = []  # in step with ``children``
        self.editing = False  # an edit is being applied: cancels and other edits wait for it
        self.cancels_in_flight = 0  # cancels accepted and not answered: no edit starts meanwhile
        self.edited_away: set[str] = set()  # parcels an edit dissolved (their workflows end cancelled)
        self.local_routing = False  # LOCAL_ROUTING_PATCH: decided once, at the start
        self.confirmation: asyncio.Task | None = None  # the confirmation email, since LOCAL_ROUTING_PATCH

    @workflow.signal
    def shipment_progress(self, progress: ShipmentProgress) -> None:
        self.shipments[progress.shipment_id] = progress.status

    @workflow.signal
    def retry(self) -> None:
        """Ops: try a stuck step (loading, routing) again now."""
        self.retry_requested = True

    @workflow.query
    def state(self) -> dict:
        return {"status": self.status, "shipments": dict(self.shipments), "alert": self.alert}

    def _captured_any(self) -> bool:
        return any(status != "pending" and status not in ("cancelled", "capture_failed")
                   for status in self.shipments.values())

    def _routing_stuck(self) -> bool:
        return self.alert is not None and self.alert.startswith(("load_failed:", "allocation_failed:"))

    def _all_final(self) -> bool:
        return all(status in FINAL_SHIPMENT_STATES for status in self.shipments.values())

    def _since(self, patch_id: str) -> bool:
        """``workflow.patched(patch_id)`` for a patch older than LOCAL_ROUTING_PATCH, which implies it."""
        return self.local_routing or workflow.patched(patch_id)

    async def _act(self, method, *args):
        return await workflow.execute_activity_method(
            method, args=list(args), start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=PROVIDER_BUDGET, retry_policy=STEP_RETRY,
        )

    async def _notify(self, method, *args) -> None:
        await best_effort(self._act(method, *args), "notification")

    async def _set_status(self, status: str) -> None:
        self.status = status
        workflow.upsert_search_attributes([sa.FULFILLMENT_STATUS.value_set(status)])

    async def _set_alert(self, alert: str | None) -> None:
        self.alert = alert
        workflow.upsert_search_attributes([sa.FULFILLMENT_ALERT.value_set(alert) if alert
                                           else sa.FULFILLMENT_ALERT.value_unset()])
        if alert:
            workflow.logger.warning("order %s alert: %s", self.order_id, alert)

    async def _wait_for_ops_retry(self) -> None:
        """Pause before another try of a step that must not give up: ops' retry signal, or a while."""
        try:
            await workflow.wait_condition(lambda: self.retry_requested, timeout=ROUTING_RETRY_PAUSE)
        except asyncio.TimeoutError:
            pass

    async def _route(self, order_id: str):
        self.local_routing = workflow.patched(LOCAL_ROUTING_PATCH)
        if self.local_routing:
            # Database-only, idempotent per order (allocate_order returns the plan it made before): local
            # activities in the first workflow task. The confirmation email is sent by ``_start_shipments``.
            self.order_id = order_id
            order = await self._persist_locally("load_failed", FulfillmentActivities.load_order, order_id)
            return order, await self._persist_locally("allocation_failed", FulfillmentActivities.allocate_order,
                                                      order_id)
        if workflow.patched(ROUTING_PERSISTS_PATCH):
            self.order_id = order_id
            order = await self._persist("load_failed", FulfillmentActivities.load_order, order_id)
            await self._notify(NotificationActivities.send_order_confirmation, order.order_id)
            return order, await self._persist("allocation_failed", FulfillmentActivities.allocate_order, order_id)
        order = await self._act(FulfillmentActivities.load_order, order_id)
        await self._notify(NotificationActivities.send_order_confirmation, order.order_id)
        return order, await self._act(FulfillmentActivities.allocate_order, order_id)

    async def _start_shipment(self, order, shipment):
        # ABANDON: a parcel must live on (and ship what was paid for) whatever happens to its order.
        close_policy = (ParentClosePolicy.ABANDON if self._since(CHILDREN_OUTLIVE_PATCH)
                        else ParentClosePolicy.TERMINATE)
        return await workflow.start_child_workflow(
            ShipmentWorkflow.run,
            ShipmentInput(order_id=order.order_id, shipment_id=shipment.shipment_id, policy=order.policy),
            id=workflow_ids.shipment(shipment.shipment_id),
            search_attributes=TypedSearchAttributes([SearchAttributePair(sa.ORDER_ID, order.order_id)]),
            parent_close_policy=close_policy,
        )

    async def _shipment_results(self) -> list[str]:
        """Each child's outcome; a child that failed or was terminated is 'failed', not the order's end.
        Parcels an edit started meanwhile are waited for too (an edit starts them before it stops those it
        replaced, so none is missed)."""
        if not self._since(CHILDREN_OUTLIVE_PATCH):
            return await asyncio.gather(*self.children)
        results: list = []
        while len(results) < len(self.children):
            results += await asyncio.gather(*self.children[len(results):], return_exceptions=True)
        for child, result in zip(self.children, results):
            if isinstance(result, BaseException):
                workflow.logger.error("shipment %s failed: %s", child.id, result)
        return [("failed" if isinstance(result, BaseException) else result) for result in results]

    async def _start_shipments(self, order, plan) -> list:
        """Since LOCAL_ROUTING_PATCH the parcels start together, with the confirmation email alongside (a
        task awaited before the order ends): its answer and theirs can share one workflow task."""
        if not self.local_routing:
            return [await self._start_shipment(order, shipment) for shipment in plan]
        self.confirmation = asyncio.create_task(
            self._notify(NotificationActivities.send_order_confirmation, order.order_id))
        return list(await asyncio.gather(*(self._start_shipment(order, shipment) for shipment in plan)))

    async def _set_routed(self, order, plan) -> None:
        self.shipments = {shipment.shipment_id: "pending" for shipment in plan}
        routed = [sa.SHIPMENT_COUNT.value_set(len(plan)), sa.ORDER_ID.value_set(order.order_id)]
        if self.local_routing:  # one upsert: the status rides along
            self.status = "awaiting_shipment"
            workflow.upsert_search_attributes([*routed, sa.FULFILLMENT_STATUS.value_set(self.status)])
        else:
            workflow.upsert_search_attributes(routed)
            await self._set_status("awaiting_shipment")

    @workflow.run
    async def run(self, request: FulfillmentInput) -> str:
        outcome = await self._fulfil(request)
        if self.confirmation is not None:  # long sent, as a rule; the order does not end before it
            await self.confirmation
        return outcome

    async def _fulfil(self, request: FulfillmentInput) -> str:
        order, plan = await self._route(request.order_id)
        await self._set_routed(order, plan)
        self.order_id = order.order_id
        self.order = order
        self.shipment_ids = [shipment.shipment_id for shipment in plan]
        self.children = await self._start_shipments(order, plan)
        if not await self._keep_authorization_alive(order):
            return self.status
        # Wait for the children themselves to end (not just their last signal), so none is cut off.
        results = await self._shipment_results()
        if self.status in ("cancelling", "cancelled"):  # support cancelled it through the update
            await workflow.wait_condition(workflow.all_handlers_finished)
            return self.status
        self.shipments.update(dict(zip(self.shipment_ids, results)))
        kept = [result for shipment_id, result in zip(self.shipment_ids, results) if shipment_id not in self.edited_away]
        outcome = "delivered" if all(result == "delivered" for result in kept) else "needs_attention"
        await self._set_status(outcome)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    async def _keep_authorization_alive(self, order) -> bool:
        """Until something is captured, renew (or give up on) the authorization before it lapses."""
        if order.total == 0:  # no-charge orders (exchanges) hold no authorization
            return True
        ttl = timedelta(seconds=order.policy.authorization_ttl_seconds)
        deadline = order.created_at + ttl
        attempt = 0
        while not self._captured_any() and not self._all_final():
            try:
                await workflow.wait_condition(lambda: self._captured_any() or self._all_final(),
                                              timeout=max(deadline - workflow.now(), timedelta(seconds=1)))
                break
            except asyncio.TimeoutError:
                pass
            outcome = "declined"
            if order.policy.on_authorization_expiry == "reauthorize":
                attempt += 1
                outcome = await self._renew_authorization(order.order_id, attempt)
            if outcome == "renewed":
                deadline = workflow.now() + ttl
            elif outcome == "declined":
                try:
                    await self._cancel(reason="authorization_expired")
                except ActivityError as failure:
                    code, message = failure_code(failure)
                    workflow.logger.error("cancelling order %s failed: %s %s", self.order_id, code, message)
                    if workflow.patched(REFUSED_CANCEL_PATCH):
                        # Refused: a capture won the race (or the database did not answer). Nothing was
                        # undone, so the order carries on as a normal one; ops see why it was not cancelled.
                        await self._set_alert(f"expiry_cancel_refused:{code}")
                        return True
                    await self._set_status(f"cancel_failed:{code}")
                return False
            else:  # a capture started meanwhile: the authorization is in use
                break
        return True

    async def _renew_authorization(self, order_id: str, attempt: int) -> str:
        """'renewed', 'declined' or 'not_needed' (a capture began). Before REAUTH_STEPS_PATCH one
        activity did it all, and a failed void retried against the new hold."""
        if not workflow.patched(REAUTH_STEPS_PATCH):
            return await self._act(FulfillmentActivities.renew_authorization, order_id, attempt)
        settles = workflow.patched(REAUTH_SETTLES_PATCH)
        renewal = await self._bookkeeping(settles, FulfillmentActivities.plan_reauthorization, order_id, attempt)
        if renewal is None:
            return "not_needed"
        key = f"{renewal.payment_ref}:authorize"
        try:
            fresh = await self._act(PaymentActivities.authorize_payment, renewal.payment_ref, renewal.amount,
                                    renewal.currency, renewal.payment_method, key)
        except ActivityError as failure:
            # Unanswered counts as declined too: the order is cancelled. A hold the provider may have made
            # under the key is looked up and released (before the patch: left for reconciliation, which
            # never voided it).
            workflow.logger.warning("re-authorizing order %s failed: %s", order_id, failure_code(failure)[0])
            if settles:
                await self._release_unanswered(renewal.payment_ref, key)
            return "declined"
        if not await self._bookkeeping(settles, FulfillmentActivities.switch_authorization, renewal, fresh):
            # A capture (or a cancel) came first and uses the old hold: the new one is not needed.
            await self._void_or_alert(renewal.payment_ref, fresh, f"{renewal.payment_ref}:void-unused")
            return "not_needed"
        # The old hold comes from workflow state, never re-read: a retry cannot void the new one.
        await self._void_or_alert(renewal.old_payment_ref, renewal.old_authorization,
                                  f"{renewal.old_payment_ref}:void-expired")
        return "renewed"

    async def _bookkeeping(self, persists: bool, method, *args):
        """A re-authorization step in our database: it must not fail the order (after the patch: it
        retries with a visible reauthorization_failed alert until it succeeds)."""
        if persists:
            return await self._persist("reauthorization_failed", method, *args)
        return await self._act(method, *args)

    async def _release_unanswered(self, payment_ref: str, key: str) -> None:
        try:
            outcome = await workflow.execute_activity_method(
                PaymentActivities.settle_unanswered_authorization,
                args=[payment_ref, key, f"{payment_ref}:void-unused"],
                start_to_close_timeout=timedelta(seconds=60), schedule_to_close_timeout=PERSISTENT_BUDGET,
                retry_policy=PERSISTENT_RETRY)
        except ActivityError as failure:
            outcome = failure_code(failure)[0]
        if outcome not in ("nothing_held", "released"):
            await self._set_alert(f"reauthorization_unsettled:{outcome}")

    async def _void_or_alert(self, payment_ref: str, authorization, key: str) -> bool:
        try:
            await workflow.execute_activity_method(
                PaymentActivities.void_authorization, args=[payment_ref, authorization, key],
                start_to_close_timeout=timedelta(seconds=60), schedule_to_close_timeout=PERSISTENT_BUDGET,
                retry_policy=PERSISTENT_RETRY)
            return True
        except ActivityError as failure:
            await self._set_alert(f"void_failed:{failure_code(failure)[0]}")
            return False

    async def _cancel(self, *, reason: str) -> None:
        """Compensate everything not yet shipped: release stock, stop shipments, void payment.

        The database decides first (cancel vs. a capture in flight: exactly one wins), so a
        refused cancel changes nothing. Raises ActivityError when refused.
        """
        if not workflow.patched(CANCEL_DB_FIRST_PATCH):
            return await self._cancel_children_first(reason)
        previous = self.status
        await self._set_status("cancelling")
        try:
            payment_ref = await self._cancel_in_database(reason)
        except ActivityError:
            await self._set_status(previous)
            raise
        if workflow.patched(COMPENSATE_ALL_PATCH):
            return await self._compensate_all(payment_ref)
        for child in self.children:
            await child.signal(ShipmentWorkflow.cancel)
        current = await self._act(FulfillmentActivities.current_authorization, self.order_id)
        await self._act(PaymentActivities.void_authorization, payment_ref, current.authorization,
                        current.idempotency_key)
        await asyncio.gather(*self.children)
        await self._set_status("cancelled")

    async def _cancel_in_database(self, reason: str) -> str:
        """Cancel the order row (its stock released); returns its payment ref. Raises ActivityError when
        refused. An unanswered cancel may have committed: the database is asked what became of it (after
        the patch; before it, taken as refused, the cancelled order kept its hold and its parcels waited)."""
        try:
            return await self._act(FulfillmentActivities.cancel_order, self.order_id, reason,
                                   f"{self.order_id}:cancel")
        except ActivityError as failure:
            if failure_code(failure)[0] != "provider_unavailable" or not workflow.patched(CANCEL_UNANSWERED_PATCH):
                raise
            payment_ref = await self._persist("cancel_unknown", FulfillmentActivities.cancelled_payment_ref,
                                              self.order_id)
            if payment_ref is None:  # it did not commit: nothing was undone, as after a refusal
                raise
            return payment_ref

    async def _compensate_all(self, payment_ref: str) -> None:
        """After the database cancelled the order: every remaining step runs even if one fails; the
        order ends cancelled, and what was left undone is an alert (search attribute + order event)."""
        undone = []
        for child in self.children:
            try:
                await child.signal(ShipmentWorkflow.cancel)
            except Exception as failure:  # noqa: BLE001  (an ended parcel needs no stop)
                workflow.logger.warning("stopping shipment %s failed: %s", child.id, failure)
        try:
            current = await self._act(FulfillmentActivities.current_authorization, self.order_id)
        except ActivityError:
            undone.append("void")
        else:
            if not await self._void_or_alert(payment_ref, current.authorization, current.idempotency_key):
                undone.append("void")
        if "failed" in await self._shipment_results():
            undone.append("shipment")
        await self._set_status("cancelled")
        if undone:
            alert = f"cancel_incomplete:{'+'.join(undone)}"
            await self._set_alert(alert)
            await best_effort(self._act(FulfillmentActivities.record_order_alert, self.order_id, alert),
                              "order alert")
        if workflow.patched("email-order-cancelled"):
            if self.confirmation is not None:  # the customer hears of the order before its cancel
                await self.confirmation
            await self._notify(NotificationActivities.send_order_cancelled, self.order_id)

    async def _cancel_children_first(self, reason: str) -> None:
        """The cancel path as first shipped (children stopped before the database decided; a failure
        only set cancel_failed). Kept so fulfillments that ran it replay."""
        await self._set_status("cancelling")
        for child in self.children:
            await child.signal(ShipmentWorkflow.cancel)
        try:
            payment_ref = await self._act(FulfillmentActivities.cancel_order, self.order_id, reason,
                                          f"{self.order_id}:cancel")
            current = await self._act(FulfillmentActivities.current_authorization, self.order_id)
            await self._act(PaymentActivities.void_authorization, payment_ref, current.authorization,
                            current.idempotency_key)
        except ActivityError as failure:
            code, message = failure_code(failure)
            workflow.logger.error("cancelling order %s failed: %s %s", self.order_id, code, message)
            await self._set_status(f"cancel_failed:{code}")
            return
        await asyncio.gather(*self.children)
        await self._set_status("cancelled")

    @workflow.update
    async def cancel(self, request: CancelRequest) -> str:
        """Support cancels before anything ships; answers the final status or a coded refusal."""
        # One change to the order at a time: an edit under way finishes first, and none starts meanwhile
        # (counted before any await, so an edit that resumes after this point sees it).
        self.cancels_in_flight += 1
        try:
            return await self._cancel_when_no_edit(request)
        finally:
            self.cancels_in_flight -= 1

    async def _cancel_when_no_edit(self, request: CancelRequest) -> str:
        if self.editing:
            await workflow.wait_condition(lambda: not self.editing)
        # Accepted while the order is still being routed: it applies once the parcels exist,
        # unless routing is stuck on an ops alert (then the caller is told, not kept waiting).
        await workflow.wait_condition(lambda: bool(self.children) or self._routing_stuck())
        if not self.children:
            raise ApplicationError(f"the order cannot be routed ({self.alert}); ops are alerted, try again later",
                                   type="order_not_ready", non_retryable=True)
        try:
            await self._cancel(reason=request.reason)
        except ActivityError as failure:
            code, message = failure_code(failure)
            raise ApplicationError(message, type=code, non_retryable=True) from None
        return self.status

    @cancel.validator
    def _cancel_allowed(self, request: CancelRequest) -> None:
        if self.status in ("cancelling", "cancelled"):
            raise ApplicationError("the order is already cancelled", type="already_cancelled")
        if self._captured_any():
            raise ApplicationError("a parcel of this order has shipped; refund instead", type="already_shipped")

    # ------------------------------------------------------------------ order edits (support)
    @workflow.update
    async def edit(self, command: OrderEditCommand) -> OrderEditResult:
        """Support changes quantities, adds a SKU or moves the parcels to a new address, until the parcels
        holding what changes have left. One edit (or cancel) at a time; answers the new total or a refusal."""
        await workflow.wait_condition(lambda: (bool(self.children) or self._routing_stuck()) and not self.editing)
        if not self.children:
            raise ApplicationError(f"the order cannot be routed ({self.alert}); ops are alerted, try again later",
                                   type="order_not_ready", non_retryable=True)
        if self.status in ("cancelling", "cancelled") or self.cancels_in_flight:  # a cancel came first
            raise ApplicationError("the order is cancelled (or being cancelled)", type="order_cancelled",
                                   non_retryable=True)
        self.editing = True  # no await since the check above: a cancel arriving now waits for this edit
        try:
            return await self._edit(command)
        finally:
            self.editing = False

    @edit.validator
    def _edit_allowed(self, command: OrderEditCommand) -> None:
        if self.status in ("cancelling", "cancelled") or self.cancels_in_flight:
            raise ApplicationError("the order is cancelled; it can no longer be edited", type="order_cancelled")
        if (problem := edit_problem(command.request)) is not None:
            raise ApplicationError(problem, type="invalid_edit")

    async def _edit(self, command: OrderEditCommand) -> OrderEditResult:
        workflow.patched(ORDER_EDITS_PATCH)  # marks the histories that hold edits
        try:
            plan = await self._act(OrderEditActivities.plan_order_edit, command)
        except ActivityError as failure:
            raise _refused(failure) from None
        outcome, authorization = await self._apply_edit(plan)
        if plan.payment.action == "refund":
            await self._refund_edit(plan)
        if authorization is not None and authorization.mode == "replaced":  # the new hold took over: free the old
            await self._void_or_alert(plan.payment_ref, plan.authorization, edit_key(plan, "void-replaced"))
        await self._replan_parcels(outcome)
        await self._notify(NotificationActivities.send_order_edited, plan.order_id, plan.edit_id)
        return OrderEditResult(order_id=plan.order_id, edit_id=plan.edit_id, status="applied",
                               total=plan.after.total, previous_total=plan.before.total, currency=plan.currency,
                               payment=plan.payment)

    async def _apply_edit(self, plan: EditPlan) -> tuple[EditOutcome, EditAuthorization | None]:
        """The edit's saga: hold the added stock, cover a higher total, apply. A refused step undoes the
        earlier ones (release the hold, void a new authorization) and the edit is refused with its code.
        A hold raised in place cannot be lowered again: it stays until the final capture releases it."""
        undo = []
        try:
            release = lambda: self._persist("edit_release_failed", OrderEditActivities.release_order_edit, plan)  # noqa: E731
            if workflow.patched(EDIT_RELEASE_UNANSWERED_HOLD_PATCH):  # a hold whose answer was lost is held too
                undo.append(release)
            await self._act(OrderEditActivities.reserve_order_edit, plan)
            if not workflow.patched(EDIT_RELEASE_UNANSWERED_HOLD_PATCH):
                undo.append(release)
            authorization = None
            if plan.payment.action == "increase":
                authorization = await self._act(OrderEditActivities.raise_authorization, plan)
                if authorization.mode == "replaced":
                    undo.append(lambda: self._void_or_alert(authorization.payment_ref, _held(plan, authorization),
                                                            edit_key(plan, "void-unused")))
            return await self._apply_once(plan, authorization), authorization
        except ActivityError as failure:
            for step in reversed(undo):
                await step()
            raise _refused(failure) from None

    async def _apply_once(self, plan: EditPlan, authorization: EditAuthorization | None) -> EditOutcome:
        """Apply, refused or not; unanswered, it may have committed: the same idempotent step is asked again
        until it answers (compensating a committed edit would void the order's live hold)."""
        try:
            return await self._act(OrderEditActivities.apply_order_edit, plan, authorization)
        except ActivityError as failure:
            if failure_code(failure)[0] != "provider_unavailable":
                raise
        return await self._persist("edit_apply_unknown", OrderEditActivities.apply_order_edit, plan, authorization)

    async def _refund_edit(self, plan: EditPlan) -> None:
        try:
            await self._act(OrderEditActivities.refund_order_edit, plan)
        except ActivityError as failure:  # the edit stands; the overpayment is left to ops, visibly
            code = failure_code(failure)[0]
            # Unanswered, it may have been made: "failed" would have ops refund it by hand a second time. The
            # ledger entry under the edit's refund key (reconciliation settles a pending one) says what happened.
            # Only the alert's text changes (no command does): old histories replay without a patch.
            alert = "edit_refund_unknown" if code == "provider_unavailable" else f"edit_refund_failed:{code}"
            await self._set_alert(alert)
            await best_effort(self._act(FulfillmentActivities.record_order_alert, self.order_id, alert), "order alert")

    async def _replan_parcels(self, outcome: EditOutcome) -> None:
        """Start the re-planned parcels first, then stop the ones they replace (so the order never looks
        finished in between)."""
        for shipment_id in outcome.new_shipments:
            self.shipments[shipment_id] = "pending"
            self.shipment_ids.append(shipment_id)
            self.children.append(await self._start_shipment(
                self.order, PlannedShipment(shipment_id=shipment_id, location_id="", items=[])))
        self.edited_away.update(outcome.dissolved_shipments)
        for child in self.children:
            if child.id in {workflow_ids.shipment(s) for s in outcome.dissolved_shipments}:
                try:
                    await child.signal(ShipmentWorkflow.cancel)
                except Exception as failure:  # noqa: BLE001  (an ended parcel needs no stop)
                    workflow.logger.warning("stopping shipment %s failed: %s", child.id, failure)


def _refused(failure: ActivityError) -> ApplicationError:
    code, message = failure_code(failure)
    return ApplicationError(message, type=code, non_retryable=True)


def _held(plan: EditPlan, authorization: EditAuthorization) -> PaymentAuthorization:
    return PaymentAuthorization(provider=plan.authorization.provider, authorization_id=authorization.authorization_id,
                                amount=authorization.amount, currency=plan.currency)
