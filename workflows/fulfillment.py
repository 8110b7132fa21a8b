"""Order fulfillment: route the order, run one child shipment workflow per location, and
watch the payment authorization so it never silently expires before anything ships."""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.checkout import PaymentActivities
    from activities.fulfillment import FulfillmentActivities
    from activities.notifications import NotificationActivities
    from models.fulfillment import CancelRequest, FulfillmentInput, ShipmentInput, ShipmentProgress
    from workflows import search_attributes as sa
    from workflows.common import PROVIDER_BUDGET, STEP_RETRY, best_effort, failure_code
    from workflows.shipment import ShipmentWorkflow

FINAL_SHIPMENT_STATES = {"delivered", "delivery_unconfirmed", "capture_failed", "cancelled"}


@workflow.defn
class FulfillmentWorkflow:
    def __init__(self) -> None:
        self.status = "starting"
        self.order_id = ""
        self.shipments: dict[str, str] = {}
        self.children: list = []

    @workflow.signal
    def shipment_progress(self, progress: ShipmentProgress) -> None:
        self.shipments[progress.shipment_id] = progress.status

    @workflow.query
    def state(self) -> dict:
        return {"status": self.status, "shipments": dict(self.shipments)}

    def _captured_any(self) -> bool:
        return any(status != "pending" and status not in ("cancelled", "capture_failed")
                   for status in self.shipments.values())

    def _all_final(self) -> bool:
        return all(status in FINAL_SHIPMENT_STATES for status in self.shipments.values())

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

    @workflow.run
    async def run(self, request: FulfillmentInput) -> str:
        order = await self._act(FulfillmentActivities.load_order, request.order_id)
        await self._notify(NotificationActivities.send_order_confirmation, order.order_id)
        plan = await self._act(FulfillmentActivities.allocate_order, request.order_id)
        self.shipments = {shipment.shipment_id: "pending" for shipment in plan}
        workflow.upsert_search_attributes([sa.SHIPMENT_COUNT.value_set(len(plan)), sa.ORDER_ID.value_set(order.order_id)])
        await self._set_status("awaiting_shipment")
        self.order_id = order.order_id
        self.children = [
            await workflow.start_child_workflow(
                ShipmentWorkflow.run,
                ShipmentInput(order_id=order.order_id, shipment_id=shipment.shipment_id, policy=order.policy),
                id=f"shipment-{shipment.shipment_id}",
                search_attributes=TypedSearchAttributes([SearchAttributePair(sa.ORDER_ID, order.order_id)]),
            )
            for shipment in plan
        ]
        if not await self._keep_authorization_alive(order):
            return self.status
        # Wait for the children themselves to end (not just their last signal), so none is cut off.
        results = await asyncio.gather(*self.children)
        if self.status in ("cancelling", "cancelled"):  # support cancelled it through the update
            await workflow.wait_condition(workflow.all_handlers_finished)
            return self.status
        self.shipments.update({shipment.shipment_id: result for shipment, result in zip(plan, results)})
        outcome = "delivered" if all(result == "delivered" for result in results) else "needs_attention"
        await self._set_status(outcome)
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
                outcome = await self._act(FulfillmentActivities.renew_authorization, order.order_id, attempt)
            if outcome == "renewed":
                deadline = workflow.now() + ttl
            elif outcome == "declined":
                try:
                    await self._cancel(reason="authorization_expired")
                except ActivityError as failure:
                    code, message = failure_code(failure)
                    workflow.logger.error("cancelling order %s failed: %s %s", self.order_id, code, message)
                    await self._set_status(f"cancel_failed:{code}")
                return False
            else:  # a capture started meanwhile: the authorization is in use
                break
        return True

    async def _cancel(self, *, reason: str) -> None:
        """Compensate everything not yet shipped: release stock, stop shipments, void payment.

        The database decides first (cancel vs. a capture in flight: exactly one wins), so a
        refused cancel changes nothing. Raises ActivityError when refused.
        """
        previous = self.status
        await self._set_status("cancelling")
        try:
            payment_ref = await self._act(FulfillmentActivities.cancel_order, self.order_id, reason,
                                          f"{self.order_id}:cancel")
        except ActivityError:
            await self._set_status(previous)
            raise
        for child in self.children:
            await child.signal(ShipmentWorkflow.cancel)
        current = await self._act(FulfillmentActivities.current_authorization, self.order_id)
        await self._act(PaymentActivities.void_authorization, payment_ref, current.authorization,
                        current.idempotency_key)
        await asyncio.gather(*self.children)
        await self._set_status("cancelled")

    @workflow.update
    async def cancel(self, request: CancelRequest) -> str:
        """Support cancels before anything ships; answers the final status or a coded refusal."""
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
        if not self.children:
            raise ApplicationError("the order is still being routed; try again in a moment", type="order_not_ready")
        if self._captured_any():
            raise ApplicationError("a parcel of this order has shipped; refund instead", type="already_shipped")
