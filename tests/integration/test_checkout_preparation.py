"""prepare_checkout (patch prepared-checkout) as an activity against real PostgreSQL and the local providers."""

import uuid
from datetime import UTC, datetime, timedelta

from temporalio.testing import ActivityEnvironment

from activities.checkout_preparation import CheckoutPreparationActivities
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from models.commerce import Address, CheckoutInput
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import ADDRESS, cart_with

TTL = 900


async def _checkout(api, engine) -> CheckoutInput:
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    return CheckoutInput(checkout_id=f"chk_{uuid.uuid4().hex[:12]}", order_id=f"ord_{uuid.uuid4().hex[:12]}",
                         cart_id=await cart_with(api, {sku: 1}), email="ada@example.com",
                         shipping_address=Address(**ADDRESS), payment_method="pm_card_visa", fraud=None,
                         reservation_ttl_seconds=TTL)


async def test_a_hold_made_late_lasts_its_whole_ttl_and_a_rerun_returns_it_unchanged(api, engine):
    """The workflow's ``now`` is fixed when it asked; an attempt that runs minutes later (after provider retries)
    must not make a hold that is already minutes into its TTL."""
    preparation = CheckoutPreparationActivities(engine, LocalShippingCarrier(), LocalTaxCalculator())
    checkout = await _checkout(api, engine)
    asked = datetime.now(UTC) - timedelta(minutes=10)

    made = datetime.now(UTC)
    first = await ActivityEnvironment().run(preparation.prepare_checkout, checkout, asked)
    assert first.reservation.expires_at >= made + timedelta(seconds=TTL)

    again = await ActivityEnvironment().run(preparation.prepare_checkout, checkout, asked)
    assert again.reservation == first.reservation, "a rerun finds the hold made under the checkout's key"
