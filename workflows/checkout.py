"""Checkout saga: validate → price → shipping → tax → reserve → authorize → create order.

Each step that succeeded registers its compensation; a failure runs them in reverse
and records the checkout as failed with the business error code.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.checkout import (
        CartActivities, InventoryActivities, OrderActivities, PaymentActivities, PricingActivities,
        ShippingActivities, TaxActivities,
    )
    from models.commerce import CheckoutError, CheckoutInput, CheckoutResult, OrderDraft
    from workflows import search_attributes as sa

STEP_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                         maximum_interval=timedelta(seconds=10))
# A forward step whose provider stays down longer than this fails the checkout (and compensates).
STEP_BUDGET = timedelta(minutes=5)
# Compensations must eventually happen; they keep retrying far longer than forward steps.
COMPENSATION_TIMEOUT = timedelta(hours=1)


@workflow.defn
class CheckoutWorkflow:
    def __init__(self) -> None:
        self.step = "started"
        self.compensations: list[tuple] = []

    @workflow.query
    def current_step(self) -> str:
        return self.step

    async def _run(self, method, *args, timeout: float = 30):
        return await workflow.execute_activity_method(
            method, args=list(args), start_to_close_timeout=timedelta(seconds=timeout),
            schedule_to_close_timeout=STEP_BUDGET, retry_policy=STEP_RETRY,
        )

    @workflow.run
    async def run(self, checkout: CheckoutInput) -> CheckoutResult:
        try:
            order_id = await self._place_order(checkout)
        except ActivityError as failure:
            error = _business_error(failure)
            self.step = "compensating"
            await self._compensate()
            await self._run(OrderActivities.fail_checkout, checkout.checkout_id, error.code, error.message)
            self.step = "failed"
            workflow.upsert_search_attributes([sa.CHECKOUT_STATUS.value_set("failed")])
            workflow.logger.info("checkout failed: %s", error.code)
            return CheckoutResult(checkout_id=checkout.checkout_id, status="failed", error=error)
        self.step = "completed"
        workflow.upsert_search_attributes([sa.CHECKOUT_STATUS.value_set("completed")])
        return CheckoutResult(checkout_id=checkout.checkout_id, status="completed", order_id=order_id)

    async def _place_order(self, checkout: CheckoutInput) -> str:
        key = checkout.checkout_id
        self.step = "validating"
        cart = await self._run(CartActivities.begin_checkout, checkout.cart_id, key)
        self.compensations.append((CartActivities.reopen_cart, checkout.cart_id, key))

        self.step = "pricing"
        priced = await self._run(PricingActivities.price_cart, cart)
        self.step = "quoting_shipping"
        shipping = await self._run(ShippingActivities.quote_shipping, priced, checkout.shipping_address,
                                   checkout.shipping_speed)
        self.step = "quoting_tax"
        tax = await self._run(TaxActivities.quote_tax, priced, checkout.shipping_address, shipping.amount,
                              f"{key}:quote")

        self.step = "reserving"
        wanted = {line.sku: line.quantity for line in priced.lines}
        reservation = await self._run(InventoryActivities.reserve_inventory, key, wanted, workflow.now(),
                                      checkout.reservation_ttl_seconds)
        self.compensations.append((InventoryActivities.release_reservation, key))

        self.step = "authorizing"
        total = priced.subtotal - priced.discount_total + tax.total + shipping.amount
        authorization = await self._run(PaymentActivities.authorize_payment, key, total, priced.currency,
                                        checkout.payment_method, f"{key}:authorize", timeout=60)
        self.compensations.append((PaymentActivities.void_authorization, key, authorization, f"{key}:void"))

        self.step = "creating_order"
        draft = OrderDraft(
            order_id=checkout.order_id, checkout_id=key, cart_id=checkout.cart_id, email=checkout.email,
            currency=priced.currency, shipping_address=checkout.shipping_address, priced=priced, tax=tax,
            shipping=shipping, reservation=reservation, authorization=authorization,
        )
        workflow.upsert_search_attributes([sa.ORDER_TOTAL.value_set(draft.total)])
        return await self._run(OrderActivities.create_order, draft)

    async def _compensate(self) -> None:
        for method, *args in reversed(self.compensations):
            await workflow.execute_activity_method(
                method, args=args, start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=COMPENSATION_TIMEOUT, retry_policy=STEP_RETRY,
            )
        self.compensations.clear()


def _business_error(failure: ActivityError) -> CheckoutError:
    cause = failure.cause
    if isinstance(cause, ApplicationError) and cause.non_retryable and cause.type:
        return CheckoutError(code=cause.type, message=cause.message)
    # Retries exhausted or timed out: a provider stayed down past our budget.
    return CheckoutError(code="checkout_unavailable", message="a required service did not respond; nothing was charged")
