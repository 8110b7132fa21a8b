"""AvalaraTaxCalculator against a local AvaTax stand-in, plus the Avalara settings."""

from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.checkout import TaxActivities
from adapters.avalara_tax import AvalaraTaxCalculator, line_numbers
from adapters.factory import build_adapters
from adapters.ports import ProviderUnavailable
from config import Settings
from models.commerce import TaxExemption
from models.errors import DomainError
from tests.providers.conftest import AVALARA_ACCOUNT, AVALARA_LICENSE, CUSTOMER, WAREHOUSE, cart

# 2 x 19.99 -> tax 2.90 (2.898...); 4.00 -> tax 0.29 (0.29 * 100 is 28.999... as a float); shipping 5.99 -> 0.43
CART = cart(("MUG-1", 2, 1999, 350), ("PIN-1", 1, 400, 20))
SHIPPING = 599


async def test_quote_sends_decimals_and_reads_back_exact_minor_units(avalara, fake_avalara):
    quote = await avalara.quote(cart=CART, address=CUSTOMER, shipping_amount=SHIPPING, document_code="chk_1:tax")
    assert [(line.sku, line.amount) for line in quote.lines] == [("MUG-1", 290), ("PIN-1", 29)]
    assert (quote.shipping_tax, quote.total, quote.currency, quote.provider) == (43, 362, "USD", "avalara")
    sent = fake_avalara.requests[-1]["body"]
    assert sent["type"] == "SalesOrder" and sent["code"] == "chk_1:tax" and sent["companyCode"] == "ORDERFLOW"
    assert [(line["number"], line["amount"], line["taxCode"]) for line in sent["lines"]] == [
        ("MUG-1", Decimal("39.98"), "P0000000"), ("PIN-1", Decimal("4.0"), "P0000000"),
        ("shipping", Decimal("5.99"), "FR020100")]
    assert sent["addresses"]["shipFrom"]["postalCode"] == WAREHOUSE.postal_code
    assert sent["addresses"]["shipTo"]["line1"] == CUSTOMER.line1
    assert fake_avalara.documents == {}  # a SalesOrder is an estimate, never recorded


async def test_each_line_goes_out_with_its_tax_code(avalara, fake_avalara):
    coded = CART.model_copy(update={"lines": [CART.lines[0].model_copy(update={"tax_code": "PC040100"}),
                                              CART.lines[1]]})
    await avalara.quote(cart=coded, address=CUSTOMER, shipping_amount=SHIPPING, document_code="chk_2:tax")
    sent = fake_avalara.requests[-1]["body"]["lines"]
    assert [(line["number"], line["taxCode"]) for line in sent] == [
        ("MUG-1", "PC040100"), ("PIN-1", "P0000000"), ("shipping", "FR020100")]


async def test_a_tax_exempt_buyer_goes_out_with_the_exemption(avalara, fake_avalara):
    exempt = CART.model_copy(update={"tax_exemption": TaxExemption(exemption_number="EX-1", entity_use_code="E")})
    await avalara.commit(cart=exempt, address=CUSTOMER, shipping_amount=SHIPPING, document_code="ord_x")
    sent = fake_avalara.requests[-1]["body"]["createTransactionModel"]
    assert (sent["exemptionNo"], sent["entityUseCode"]) == ("EX-1", "E")
    await avalara.quote(cart=CART, address=CUSTOMER, shipping_amount=SHIPPING, document_code="chk_3:tax")
    assert "exemptionNo" not in fake_avalara.requests[-1]["body"]


async def test_zero_decimal_currency_goes_out_in_whole_units(avalara, fake_avalara):
    yen = cart(("TEA-1", 1, 1500, 100), currency="JPY")
    quote = await avalara.quote(cart=yen, address=CUSTOMER, shipping_amount=0, document_code="chk_jpy:tax")
    assert fake_avalara.requests[-1]["body"]["lines"][0]["amount"] == Decimal("1500")
    assert quote.total == 109  # 108.75 yen, rounded half up to whole yen


async def test_commit_records_a_sales_invoice_and_can_be_repeated(avalara, fake_avalara):
    first = await avalara.commit(cart=CART, address=CUSTOMER, shipping_amount=SHIPPING, document_code="ord_1",
                                 customer_code="cust_9")
    again = await avalara.commit(cart=CART, address=CUSTOMER, shipping_amount=SHIPPING, document_code="ord_1")
    assert first.total == again.total == 362 and first.document_code == "ord_1"
    doc = fake_avalara.documents["ord_1"]
    assert (doc["type"], doc["status"]) == ("SalesInvoice", "Committed")
    assert fake_avalara.requests[0]["body"]["createTransactionModel"]["customerCode"] == "cust_9"


async def test_void_cancels_a_committed_invoice_and_ignores_unrecorded_quotes(avalara, fake_avalara):
    await avalara.commit(cart=CART, address=CUSTOMER, shipping_amount=SHIPPING, document_code="ord_2")
    await avalara.void(document_code="ord_2")
    assert fake_avalara.documents["ord_2"]["status"] == "Cancelled"
    assert fake_avalara.requests[-1]["body"] == {"code": "DocVoided"}
    await avalara.void(document_code="chk_never_committed:tax")  # compensation after a quote: nothing to void


async def test_refunds_full_by_line_and_by_percentage(avalara, fake_avalara):
    await avalara.commit(cart=CART, address=CUSTOMER, shipping_amount=SHIPPING, document_code="ord_3")
    full = await avalara.refund(document_code="ord_3", refund_code="ord_3:rfd-1")
    assert (full.total, full.shipping_tax, full.refund_code) == (362, 43, "ord_3:rfd-1")
    await avalara.commit(cart=CART, address=CUSTOMER, shipping_amount=SHIPPING, document_code="ord_4")
    pin = await avalara.refund(document_code="ord_4", refund_code="ord_4:rfd-1", lines=["PIN-1"])
    assert ([(line.sku, line.amount) for line in pin.lines], pin.total) == ([("PIN-1", 29)], 29)
    half = await avalara.refund(document_code="ord_4", refund_code="ord_4:rfd-2", percent_bp=5000)
    assert half.total == 145 + 15 + 22  # each line's tax halved, rounded half up
    assert fake_avalara.requests[-1]["body"]["refundPercentage"] == Decimal("50")


def test_line_numbers_stay_unique_when_a_sku_repeats():
    assert line_numbers(["A", "B", "A"]) == ["A", "B", "A#2"]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_provider_trouble_is_retryable(avalara, fake_avalara, status):
    fake_avalara.script(status)
    with pytest.raises(ProviderUnavailable):
        await avalara.quote(cart=CART, address=CUSTOMER, shipping_amount=SHIPPING, document_code="chk_5xx:tax")


async def test_timeout_is_retryable(fake_avalara, avalara_url):
    impatient = AvalaraTaxCalculator(AVALARA_ACCOUNT, AVALARA_LICENSE, "ORDERFLOW", avalara_url, timeout=0.3)
    fake_avalara.script(200, {}, delay=1.0)
    with pytest.raises(ProviderUnavailable):
        await impatient.quote(cart=CART, address=CUSTOMER, shipping_amount=0, document_code="chk_slow:tax")


async def test_bad_request_is_a_business_error_with_the_provider_code(avalara, fake_avalara):
    fake_avalara.script(400, {"error": {"code": "InvalidAddress", "message": "The address is not deliverable.",
                                        "target": "IncorrectData"}})
    with pytest.raises(DomainError) as refused:
        await avalara.quote(cart=CART, address=CUSTOMER, shipping_amount=0, document_code="chk_bad:tax")
    assert refused.value.code == "tax_request_invalid"
    assert refused.value.details == {"provider_code": "InvalidAddress", "http_status": 400, "target": "IncorrectData"}


async def test_rejected_credentials_are_retryable_not_a_business_error(fake_avalara, avalara_url):
    wrong = AvalaraTaxCalculator(AVALARA_ACCOUNT, "WRONG", "ORDERFLOW", avalara_url)
    with pytest.raises(ProviderUnavailable, match="HTTP 401"):
        await wrong.quote(cart=CART, address=CUSTOMER, shipping_amount=0, document_code="chk_auth:tax")


async def test_in_a_temporal_activity_a_4xx_is_non_retryable_and_a_5xx_is_not(avalara, fake_avalara):
    activities = TaxActivities(avalara)
    env = ActivityEnvironment()
    fake_avalara.script(400, {"error": {"code": "MissingLine", "message": "no lines"}})
    with pytest.raises(ApplicationError) as failure:
        await env.run(activities.quote_tax, CART, CUSTOMER, SHIPPING, "chk_act:tax")
    assert (failure.value.type, failure.value.non_retryable) == ("tax_request_invalid", True)
    fake_avalara.script(503)
    with pytest.raises(ProviderUnavailable):
        await env.run(activities.quote_tax, CART, CUSTOMER, SHIPPING, "chk_act:tax")


# -- settings -----------------------------------------------------------------

def test_avalara_credentials_select_avalara(clean_provider_env, avalara_url):
    configured = Settings(_env_file=None, avalara_account_id=AVALARA_ACCOUNT, avalara_license_key=AVALARA_LICENSE,
                          avalara_environment=avalara_url)
    assert configured.tax_backend == "avalara"
    tax = build_adapters(configured).tax
    assert isinstance(tax, AvalaraTaxCalculator) and tax.company_code == "DEFAULT" and tax.ship_from is None


@pytest.mark.parametrize("values, message", [
    ({"avalara_account_id": "acct-12", "avalara_license_key": "K"}, "AVALARA_ACCOUNT_ID must be numeric"),
    ({"avalara_account_id": "123"}, "needs both AVALARA_ACCOUNT_ID and AVALARA_LICENSE_KEY"),
    ({"avalara_account_id": "123", "avalara_license_key": "K", "avalara_environment": "staging"},
     "AVALARA_ENVIRONMENT must be sandbox, production or an http"),
])
def test_malformed_avalara_settings_fail_fast(clean_provider_env, values, message):
    with pytest.raises(ValueError, match=message):
        Settings(_env_file=None, **values)
