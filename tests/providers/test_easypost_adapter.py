"""EasyPostShippingCarrier against a local EasyPost stand-in, plus the EasyPost settings."""

from decimal import Decimal

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.errors import raises_business_errors
from adapters.easypost_shipping import EasyPostShippingCarrier, cheapest, fastest, ounces, speed
from adapters.factory import build_adapters
from adapters.ports import ProviderUnavailable
from config import Settings
from models.commerce import Address, ShipmentRequest
from models.errors import DomainError
from tests.providers.conftest import CUSTOMER, EASYPOST_KEY, WAREHOUSE, cart

CART = cart(("MUG-1", 2, 1999, 450), ("PIN-1", 1, 400, 100))  # 1000 g = 35.3 oz
NOWHERE = CUSTOMER.model_copy(update={"line1": "999 Nowhere Rd"})


def test_weights_go_out_in_ounces_rounded_up():
    assert (ounces(1000), ounces(1), ounces(0), ounces(28350)) == (
        Decimal("35.3"), Decimal("0.1"), Decimal("0.1"), Decimal("1000.1"))


async def test_verified_address_comes_back_corrected(easypost, fake_easypost):
    verified = await easypost.verify_address(address=CUSTOMER)
    assert verified == Address(name=CUSTOMER.name, line1="1 MARKET ST", city="SAN FRANCISCO", region="CA",
                               postal_code="94105-1804", country="US")
    assert fake_easypost.requests[-1]["body"]["verify"] is True


async def test_undeliverable_address_is_a_business_error(easypost):
    with pytest.raises(DomainError) as invalid:
        await easypost.verify_address(address=NOWHERE)
    assert invalid.value.code == "address_invalid"
    assert invalid.value.details["errors"] == ["Address not found"]


async def test_rates_are_integer_minor_units_with_normalized_speeds(easypost, fake_easypost):
    rates = await easypost.rates(cart=CART, address=CUSTOMER)
    sent = fake_easypost.requests[-1]["body"]["shipment"]
    assert sent["parcel"] == {"weight": Decimal("35.3")} and sent["from_address"]["zip"] == WAREHOUSE.postal_code
    summary = [(r.carrier, r.service, r.amount, r.estimated_days) for r in rates]
    assert summary == [("USPS", "standard", 1080, 5), ("USPS", "express", 1994, 2), ("USPS", "express", 3902, 1),
                       ("UPS", "standard", 1618, 4), ("UPS", "express", 4912, 1)]
    assert all(r.provider == "easypost" and r.currency == "USD" and r.rate_id.startswith("rate_") for r in rates)
    assert (cheapest(rates).amount, fastest(rates).amount) == (1080, 3902)
    assert cheapest([]) is None


def test_service_speed_uses_days_then_the_name():
    assert [speed("Priority", 2), speed("Ground", 4), speed("FEDEX_2_DAY", None), speed("Express", None),
            speed("GroundAdvantage", None)] == ["express", "standard", "standard", "express", "standard"]


async def test_rates_in_another_currency_are_left_out(easypost):
    assert await easypost.rates(cart=cart(("MUG-1", 1, 1999, 450), currency="EUR"), address=CUSTOMER) == []


async def test_label_purchase_is_replay_safe_and_refundable(easypost, fake_easypost):
    rate = cheapest(await easypost.rates(cart=CART, address=CUSTOMER))
    request = ShipmentRequest(cart=CART, address=CUSTOMER)
    label = await easypost.buy_label(shipment=request, rate_id=rate.rate_id, idempotency_key="ord_1:label")
    assert (label.carrier, label.service, label.amount, label.currency) == ("USPS", "GroundAdvantage", 1080, "USD")
    assert label.label_id.startswith("shp_") and label.tracking_code.startswith("9400")
    assert label.label_url.endswith(".png")
    again = await easypost.buy_label(shipment=request, rate_id=rate.rate_id, idempotency_key="ord_1:label")
    assert again == label
    assert sum(r["path"].endswith("/buy") for r in fake_easypost.requests) == 1
    assert await easypost.refund_label(label_id=label.label_id) == "submitted"
    assert await easypost.refund_label(label_id=label.label_id) == "submitted"  # a repeated compensation


async def test_a_second_label_at_another_rate_is_refused(easypost):
    rates = await easypost.rates(cart=CART, address=CUSTOMER)
    request = ShipmentRequest(cart=CART, address=CUSTOMER)
    await easypost.buy_label(shipment=request, rate_id=rates[0].rate_id, idempotency_key="ord_2:label")
    with pytest.raises(DomainError) as refused:
        await easypost.buy_label(shipment=request, rate_id=rates[1].rate_id, idempotency_key="ord_2:label-2")
    assert refused.value.code == "label_already_purchased"


async def test_shipment_to_an_unknown_address_is_address_invalid(easypost):
    with pytest.raises(DomainError) as refused:
        await easypost.rates(cart=CART, address=NOWHERE)
    assert (refused.value.code, refused.value.details["provider_code"]) == ("address_invalid", "ADDRESS.VERIFY.FAILURE")


async def test_other_4xx_is_shipping_request_invalid(easypost, fake_easypost):
    fake_easypost.script(422, {"error": {"code": "SHIPMENT.INVALID_PARAMS", "message": "bad parcel", "errors": []}})
    with pytest.raises(DomainError) as refused:
        await easypost.rates(cart=CART, address=CUSTOMER)
    assert (refused.value.code, refused.value.details["http_status"]) == ("shipping_request_invalid", 422)


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_provider_trouble_is_retryable(easypost, fake_easypost, status):
    fake_easypost.script(status)
    with pytest.raises(ProviderUnavailable):
        await easypost.rates(cart=CART, address=CUSTOMER)


async def test_timeout_is_retryable(fake_easypost, easypost_url):
    impatient = EasyPostShippingCarrier(EASYPOST_KEY, easypost_url, from_address=WAREHOUSE, timeout=0.3)
    fake_easypost.script(200, {}, delay=1.0)
    with pytest.raises(ProviderUnavailable):
        await impatient.rates(cart=CART, address=CUSTOMER)


async def test_in_a_temporal_activity_a_4xx_is_non_retryable_and_a_5xx_is_not(easypost, fake_easypost):
    @activity.defn
    @raises_business_errors
    async def verify_address(address: Address) -> Address:
        return await easypost.verify_address(address=address)

    env = ActivityEnvironment()
    assert (await env.run(verify_address, CUSTOMER)).postal_code == "94105-1804"
    with pytest.raises(ApplicationError) as failure:
        await env.run(verify_address, NOWHERE)
    assert (failure.value.type, failure.value.non_retryable) == ("address_invalid", True)
    fake_easypost.script(502)
    with pytest.raises(ProviderUnavailable):
        await env.run(verify_address, CUSTOMER)


# -- settings -----------------------------------------------------------------

ORIGIN = {"ship_from_name": "Warehouse", "ship_from_line1": "417 Montgomery St", "ship_from_city": "San Francisco",
          "ship_from_region": "CA", "ship_from_postal_code": "94104", "ship_from_country": "US"}


def test_easypost_key_and_origin_select_easypost(clean_provider_env, easypost_url):
    configured = Settings(_env_file=None, easypost_api_key=EASYPOST_KEY, easypost_api_base=easypost_url, **ORIGIN)
    assert configured.shipping_backend == "easypost"
    shipping = build_adapters(configured).shipping
    assert isinstance(shipping, EasyPostShippingCarrier) and shipping.from_address.postal_code == "94104"


@pytest.mark.parametrize("values, message", [
    ({"easypost_api_key": "   ", **ORIGIN}, "EASYPOST_API_KEY is blank"),
    ({"easypost_api_key": EASYPOST_KEY}, "EasyPost needs the origin address"),
    ({"easypost_api_key": EASYPOST_KEY, "easypost_api_base": "localhost:9000", **ORIGIN}, "must be an http"),
])
def test_malformed_easypost_settings_fail_fast(clean_provider_env, values, message):
    with pytest.raises(ValueError, match=message):
        Settings(_env_file=None, **values)
