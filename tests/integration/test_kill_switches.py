"""Ops kill switches take a payment or shipping method out of checkout at once."""

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.checkout import ShippingActivities
from adapters.local.shipping import LocalShippingCarrier
from db import switches
from models.commerce import Address, PricedCart, PricedLine
from models.errors import DomainError
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import ADDRESS, cart_with, checkout_body, start_checkout


async def switch(api, kind, name, disabled, reason="incident"):
    response = await api.put(f"/admin/kill-switches/{kind}/{name}", json={"disabled": disabled, "reason": reason})
    assert response.status_code == 200, response.text


async def test_disabled_methods_are_not_offered_and_refused(api, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    await switch(api, "shipping_method", "express", True)
    await switch(api, "payment_method", "paypal", True)

    options = (await api.get("/checkouts/options")).json()
    assert options == {"payment_method_types": ["card", "apple_pay", "google_pay"], "shipping_methods": ["standard"]}

    cart_id = await cart_with(api, {sku: 1})
    express = await start_checkout(api, checkout_body(cart_id, shipping_speed="express"))
    assert express.status_code == 422 and express.json()["error"]["code"] == "shipping_method_disabled"
    paypal = await start_checkout(api, checkout_body(cart_id, payment_method_type="paypal"))
    assert paypal.status_code == 422 and paypal.json()["error"]["code"] == "payment_method_disabled"

    listed = {(s["kind"], s["name"]): s for s in (await api.get("/admin/kill-switches")).json()}
    assert listed[("shipping_method", "express")]["disabled"] is True
    assert listed[("shipping_method", "express")]["reason"] == "incident"
    assert listed[("payment_method", "card")]["disabled"] is False

    await switch(api, "shipping_method", "express", False)
    await switch(api, "payment_method", "paypal", False)
    assert len((await api.get("/checkouts/options")).json()["shipping_methods"]) == 2


async def test_checkout_already_running_when_shipping_is_switched_off_fails_with_the_code(engine):
    """A checkout accepted before the switch flipped meets it at the shipping step."""
    async with engine.begin() as conn:
        await switches.set_switch(conn, "shipping_method", "express", disabled=True, reason="carrier outage")
    cart = PricedCart(cart_id="cart_x", currency="USD", subtotal=1000,
                      lines=[PricedLine(sku="S", title="S", quantity=1, unit_price=1000, line_subtotal=1000)])
    address = Address(**ADDRESS)
    shipping = ShippingActivities(LocalShippingCarrier(), engine)

    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(shipping.quote_shipping, cart, address, "express")
    assert refused.value.type == "shipping_method_disabled" and refused.value.non_retryable
    standard = await ActivityEnvironment().run(shipping.quote_shipping, cart, address, "standard")
    assert standard.service == "standard"
    async with engine.begin() as conn:
        await switches.set_switch(conn, "shipping_method", "express", disabled=False, reason="")


async def test_unknown_switches_are_4xx(api):
    unknown_kind = await api.put("/admin/kill-switches/warp_drive/on", json={"disabled": True})
    assert unknown_kind.status_code == 404 and unknown_kind.json()["error"]["code"] == "unknown_switch_kind"
    unknown_name = await api.put("/admin/kill-switches/payment_method/bitcoin", json={"disabled": True})
    assert unknown_name.status_code == 422 and unknown_name.json()["error"]["code"] == "unknown_method"


async def test_undeliverable_address_fails_the_shipping_step(engine):
    class RefusingCarrier(LocalShippingCarrier):
        async def verify_address(self, *, address):
            raise DomainError("no such street", code="address_invalid")

    cart = PricedCart(cart_id="cart_x", currency="USD", subtotal=1000,
                      lines=[PricedLine(sku="S", title="S", quantity=1, unit_price=1000, line_subtotal=1000)])
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(ShippingActivities(RefusingCarrier(), engine).quote_shipping, cart,
                                        Address(**ADDRESS), "standard")
    assert refused.value.type == "address_invalid" and refused.value.non_retryable
