"""One workflow per cart with an email (id ``cart-<cart_id>``): reminder emails until it checks out.

Reminders go out at fixed delays after the start (1 h, 24 h, 72 h by default). The API signals
``cart_checked_out`` when a checkout starts; the reminder activity also checks the cart itself, so a
lost signal only costs one skipped email. Returns ``recovered`` (checked out after a reminder),
``checked_out`` (before any) or ``abandoned`` (every reminder sent, or the cart never had lines).
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.cart_recovery import CartRecoveryActivities
    from models.cart_recovery import AbandonedCartInput
    from workflows.common import PROVIDER_BUDGET, STEP_RETRY, failure_code


@workflow.defn
class AbandonedCartWorkflow:
    def __init__(self) -> None:
        self.checked_out = False
        self.reminders_sent = 0

    @workflow.run
    async def run(self, cart: AbandonedCartInput) -> str:
        started = workflow.now()
        delays = cart.reminder_delays_seconds
        for number, delay in enumerate(delays, start=1):
            remaining = started + timedelta(seconds=delay) - workflow.now()
            if remaining > timedelta(0):
                try:
                    await workflow.wait_condition(lambda: self.checked_out, timeout=remaining)
                except asyncio.TimeoutError:
                    pass
            if self.checked_out:
                break
            outcome = await self._remind(cart.cart_id, number, last=number == len(delays))
            if outcome in ("sent", "already_sent"):
                self.reminders_sent += 1
            elif outcome == "checked_out":
                self.checked_out = True
                break
        if not self.checked_out:
            return "abandoned"
        return "recovered" if self.reminders_sent else "checked_out"

    async def _remind(self, cart_id: str, number: int, *, last: bool) -> str:
        try:
            return await workflow.execute_activity_method(
                CartRecoveryActivities.send_cart_reminder, args=[cart_id, number, last],
                start_to_close_timeout=timedelta(seconds=30), schedule_to_close_timeout=PROVIDER_BUDGET,
                retry_policy=STEP_RETRY)
        except ActivityError as failure:  # a marketing email is not worth more than its retry budget
            workflow.logger.warning("cart reminder %d skipped: %s", number, failure_code(failure)[0])
            return "failed"

    @workflow.signal
    def cart_checked_out(self) -> None:
        self.checked_out = True

    @workflow.query
    def sent(self) -> int:
        return self.reminders_sent
