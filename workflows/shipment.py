"""One parcel from one location: packed → label → capture → tax → shipped → tracked to delivery.

Timeouts never hang silently: an overdue pack or delivery sets the FulfillmentAlert
search attribute (and logs) so ops can find it in the Temporal UI, then keeps waiting.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.fulfillment import ShipmentActivities
    from activities.interfaces.notifications import NotificationActivities
    from activities.interfaces.payments import PaymentActivities
    from models.fulfillment import ShipmentInput, ShipmentProgress, TrackingEvent
    from workflows import search_attributes as sa
    from workflows.common import PROVIDER_BUDGET, STEP_RETRY, best_effort, failure_code
    from workflows.persistence import PERSISTENT_RETRY, PersistentSteps

LABEL_ATTEMPT_BUDGET = timedelta(minutes=10)
# Patch ids: each guards a change made after histories of running shipments were saved.
CAPTURE_OUTCOME_PATCH = "capture-unknown-retries-same-key"
AFTER_CAPTURE_PATCH = "steps-after-capture-persist"
PACKING_PERSISTS_PATCH = "packing-record-persists"


@workflow.defn
class ShipmentWorkflow(PersistentSteps):
    def __init__(self) -> None:
        self.status = "pending_pack"
        self.is_packed = False
        self.cancel_requested = False
        self.retry_requested = False
        self.alert: str | None = None
        self.seen_events: set[str] = set()
        self.pending_events: list[TrackingEvent] = []

    @workflow.signal
    def packed(self) -> None:
        self.is_packed = True

    @workflow.signal
    def cancel(self) -> None:
        self.cancel_requested = True

    @workflow.signal
    def retry_carrier(self) -> None:
        self.retry_requested = True

    @workflow.signal
    def tracking_update(self, event: TrackingEvent) -> None:
        # Carriers redeliver webhooks; the same event id is applied once.
        if event.event_id not in self.seen_events:
            self.seen_events.add(event.event_id)
            self.pending_events.append(event)

    @workflow.query
    def state(self) -> dict:
        return {"status": self.status, "alert": self.alert, "tracking_events": len(self.seen_events)}

    async def _act(self, method, *args, budget: timedelta = PROVIDER_BUDGET):
        return await workflow.execute_activity_method(
            method, args=list(args), start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=budget, retry_policy=STEP_RETRY,
        )

    @workflow.run
    async def run(self, shipment: ShipmentInput) -> str:
        self.input = shipment
        if not await self._wait_for_packing():
            return await self._finish("cancelled")
        await self._record_packed()
        self.status = "packed"
        if not await self._buy_label():
            return await self._finish("cancelled")
        if workflow.patched(CAPTURE_OUTCOME_PATCH):
            refused = await self._capture()
        else:
            refused = await self._capture_once()
        if refused is not None:
            return await self._finish(refused)
        await self._tell_parent("captured")
        if workflow.patched(AFTER_CAPTURE_PATCH):  # the money is taken: these steps must not fail the parcel
            await self._persist("tax_commit_failed", ShipmentActivities.commit_tax, shipment.shipment_id)
            await self._persist("ship_failed", ShipmentActivities.ship, shipment.shipment_id, workflow.now())
        else:
            await self._act(ShipmentActivities.commit_tax, shipment.shipment_id)
            await self._act(ShipmentActivities.ship, shipment.shipment_id, workflow.now())
        self.status = "shipped"
        await self._tell_parent("shipped")
        await self._notify(NotificationActivities.send_shipped, shipment.order_id, shipment.shipment_id)
        return await self._finish(await self._follow_tracking())

    async def _record_packed(self) -> None:
        """The parcel is packed on the shelf: recording it must not fail the parcel (before the patch a
        refused record failed the shipment workflow, silently); it retries with a visible pack_failed alert."""
        if workflow.patched(PACKING_PERSISTS_PATCH):
            await self._persist("pack_failed", ShipmentActivities.mark_packed, self.input.shipment_id)
        else:
            await self._act(ShipmentActivities.mark_packed, self.input.shipment_id)

    async def _capture(self) -> str | None:
        """Take this parcel's share of the payment; None once captured, else how the parcel ends.

        An unknown outcome (the provider never answered) may have captured: it alerts ops and
        retries the same idempotency key until the provider answers. Only a definite refusal
        gives the parcel up: its label is refunded, its capture share and stock released.
        """
        capture = None
        while True:
            self.retry_requested = False
            try:
                # Prepared once: a retry repeats the same capture (amount and key), never a new one.
                capture = capture or await self._act(ShipmentActivities.prepare_capture, self.input.shipment_id)
                await self._take(capture)
                break
            except ActivityError as failure:
                code, _ = failure_code(failure)
            if code != "provider_unavailable":
                return await self._give_up_capture(code)
            await self._set_alert("capture_unknown")
            await self._wait_for_ops_retry()
        if self.alert == "capture_unknown":
            await self._set_alert(None)
        return None

    async def _take(self, capture) -> None:
        if capture.amount > 0:  # nothing to capture for no-charge orders (e.g. exchanges)
            await self._act(PaymentActivities.capture_payment, capture.payment_ref, capture.authorization,
                            capture.amount, capture.idempotency_key)

    async def _give_up_capture(self, code: str) -> str:
        shipment_id = self.input.shipment_id
        await self._persist("label_refund_failed", ShipmentActivities.refund_label, shipment_id)
        if code == "order_cancelled":  # support cancelled the order while this parcel was being labelled
            return "cancelled"
        # Forget the capture share (so the order can still be cancelled) and give the stock back.
        await self._persist("capture_release_failed", ShipmentActivities.release_refused_capture, shipment_id)
        await self._set_alert(f"capture_failed:{code}")
        return "capture_failed"

    async def _capture_once(self) -> str | None:
        """Before CAPTURE_OUTCOME_PATCH: any failure, even an unknown outcome, gave the parcel up."""
        try:
            await self._take(await self._act(ShipmentActivities.prepare_capture, self.input.shipment_id))
        except ActivityError as failure:
            code, _ = failure_code(failure)
            await self._act(ShipmentActivities.refund_label, self.input.shipment_id)
            if code == "order_cancelled":
                return "cancelled"
            await self._set_alert(f"capture_failed:{code}")
            return "capture_failed"
        return None

    async def _wait_for_ops_retry(self) -> None:
        """Pause before another try: ops' retry signal (since the try began), or the carrier retry period."""
        try:
            await workflow.wait_condition(lambda: self.retry_requested,
                                          timeout=timedelta(seconds=self.input.policy.carrier_retry_seconds))
        except asyncio.TimeoutError:
            pass

    async def _wait_for_packing(self) -> bool:
        """True once packed, False if cancelled first; alerts ops when packing is overdue."""
        ready = lambda: self.is_packed or self.cancel_requested  # noqa: E731
        try:
            await workflow.wait_condition(ready, timeout=timedelta(seconds=self.input.policy.pack_alert_seconds))
        except asyncio.TimeoutError:
            await self._set_alert("pack_overdue")
            await workflow.wait_condition(ready)
        if self.alert:
            await self._set_alert(None)
        return not self.cancel_requested

    async def _buy_label(self) -> bool:
        """Buy the label; on carrier trouble alert ops and retry on a timer or an ops signal."""
        while not self.cancel_requested:
            try:
                await self._act(ShipmentActivities.buy_label, self.input.shipment_id, budget=LABEL_ATTEMPT_BUDGET)
            except ActivityError as failure:
                code, _ = failure_code(failure)
                await self._set_alert(f"carrier_failure:{code}")
                self.retry_requested = False
                try:
                    await workflow.wait_condition(
                        lambda: self.retry_requested or self.cancel_requested,
                        timeout=timedelta(seconds=self.input.policy.carrier_retry_seconds),
                    )
                except asyncio.TimeoutError:
                    pass
                continue
            if self.alert:
                await self._set_alert(None)
            self.status = "label_purchased"
            return True
        return False

    async def _follow_tracking(self) -> str:
        policy = self.input.policy
        shipped_at = workflow.now()
        alert_at = shipped_at + timedelta(seconds=policy.delivery_alert_seconds)
        give_up_at = shipped_at + timedelta(seconds=policy.delivery_give_up_seconds)
        while True:
            while self.pending_events:
                event = self.pending_events.pop(0)
                if workflow.patched(AFTER_CAPTURE_PATCH):
                    await self._persist("tracking_failed", ShipmentActivities.record_tracking,
                                        self.input.shipment_id, event)
                else:
                    await self._act(ShipmentActivities.record_tracking, self.input.shipment_id, event)
                if event.status == "delivered":
                    self.status = "delivered"
                    if self.alert:
                        await self._set_alert(None)
                    await self._tell_parent("delivered")
                    await self._notify(NotificationActivities.send_delivered, self.input.order_id,
                                       self.input.shipment_id)
                    return "delivered"
                if event.status in ("in_transit", "out_for_delivery"):
                    self.status = "in_transit"
            deadline = alert_at if self.alert is None else give_up_at
            try:
                await workflow.wait_condition(lambda: bool(self.pending_events),
                                              timeout=max(deadline - workflow.now(), timedelta(seconds=1)))
            except asyncio.TimeoutError:
                if self.alert is None:
                    await self._set_alert("delivery_overdue")
                else:
                    return "delivery_unconfirmed"

    async def _notify(self, method, *args) -> None:
        await best_effort(self._act(method, *args), "notification")

    async def _set_alert(self, alert: str | None) -> None:
        self.alert = alert
        workflow.upsert_search_attributes([sa.FULFILLMENT_ALERT.value_set(alert) if alert
                                           else sa.FULFILLMENT_ALERT.value_unset()])
        # Ops must see the alert: no budget, it retries (capped backoff) until the database answers.
        await workflow.execute_activity_method(ShipmentActivities.set_alert, args=[self.input.shipment_id, alert],
                                               start_to_close_timeout=timedelta(seconds=60),
                                               retry_policy=PERSISTENT_RETRY)
        if alert:
            workflow.logger.warning("shipment %s alert: %s", self.input.shipment_id, alert)

    async def _tell_parent(self, status: str) -> None:
        parent = workflow.info().parent
        if parent is None:
            return
        try:
            await workflow.get_external_workflow_handle(parent.workflow_id).signal(
                "shipment_progress", ShipmentProgress(shipment_id=self.input.shipment_id, status=status))
        except Exception as failure:  # noqa: BLE001  (children outlive their parent: ABANDON policy)
            workflow.logger.warning("shipment %s could not tell its order: %s", self.input.shipment_id, failure)

    async def _finish(self, outcome: str) -> str:
        self.status = outcome
        if outcome != "delivered":
            await self._tell_parent(outcome)
        return outcome
