"""A checkout's steps up to the payment, as one local activity (patch ``prepared-checkout``).

Lock the cart and price it, quote shipping and tax, screen for fraud, hold the stock: the same steps the
checkout ran as six local activities before, now in one. Each of those was a round trip through the worker's
event loop inside the workflow task (schedule, run, resolve, activate again), and under load those hops, not
the steps' work, made most of a checkout's time (bench/README.md). The steps keep their rules and their
idempotency per checkout, so a rerun of the whole activity (a retry, or a worker that died before the
workflow task completed) finds the cart locked by this checkout, the screening recorded and the stock held
under the checkout's key, and answers the same. No database connection is held across a provider call.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities import quoting
from activities.errors import raises_business_errors
from activities.fraud import screen
from adapters.ports import ShippingCarrier, TaxCalculator
from db import carts as cart_store
from db import inventory
from db import switches
from models.commerce import CheckoutInput, PreparedCheckout, screening_request, wanted_units


class CheckoutPreparationActivities:
    def __init__(self, engine: AsyncEngine, carrier: ShippingCarrier, tax: TaxCalculator):
        self.engine = engine
        self.carrier = carrier
        self.tax = tax

    @activity.defn
    @raises_business_errors
    async def prepare_checkout(self, checkout: CheckoutInput, now: datetime) -> PreparedCheckout:
        """Everything up to the payment. Stock is held only once screening approves (or is off): a checkout
        sent to review, or rejected, comes back without a reservation and the workflow decides."""
        key = checkout.checkout_id
        async with self.engine.begin() as conn:  # the lock and today's prices, one transaction
            cart = await cart_store.begin_checkout(conn, checkout.cart_id, key)
            priced = await quoting.price_for_checkout(conn, cart, datetime.now(UTC))
            switched_off = await switches.disabled(conn, "shipping_method")
        shipping, _ = await quoting.shipping_rates(self.carrier, priced, checkout.shipping_address,
                                                   checkout.shipping_speed, switched_off)
        tax = await quoting.tax_quote(self.tax, priced, checkout.shipping_address, shipping.amount, f"{key}:quote")
        prepared = PreparedCheckout(priced=priced, shipping=shipping, tax=tax)
        if checkout.fraud is not None:
            async with self.engine.begin() as conn:  # recorded even if the stock then runs short
                assessment = await screen(conn, screening_request(checkout, priced, prepared.total), datetime.now(UTC))
            prepared = prepared.model_copy(update={"assessment": assessment})
            if assessment.outcome != "approve":
                return prepared
        # ``now`` is when the workflow asked (the same on every attempt); a hold made by a later attempt, after
        # minutes of provider retries, still lasts its whole TTL from when it is made. A rerun finds the hold
        # already made under the key and returns it unchanged.
        now = max(now, datetime.now(UTC))
        async with self.engine.begin() as conn:
            reservation = await inventory.reserve(conn, key, wanted_units(priced), now=now,
                                                  expires_at=now + timedelta(seconds=checkout.reservation_ttl_seconds))
        return prepared.model_copy(update={"reservation": reservation})
