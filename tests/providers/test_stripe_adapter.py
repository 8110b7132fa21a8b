"""StripePaymentGateway against a real localstripe process, plus the Stripe settings."""

import uuid

import pytest
import stripe

from activities.payments_service import PaymentService
from adapters.factory import build_adapters
from adapters.local.payment import LocalPaymentGateway
from adapters.ports import ProviderUnavailable
from adapters.stripe_payment import StripePaymentGateway
from config import Settings
from models.errors import DomainError, PaymentDeclined
from models.payments import parcel_capture
from tests.providers.conftest import STRIPE_TEST_KEY, free_port
from tests.providers.fake_servers import FakeProvider

DECLINED_CARD = "4000000000000341"  # attaches fine, declines on charge
THREE_DS_CARD = "4000002760003184"  # always requires authentication


def key(step: str) -> str:
    return f"chk_{uuid.uuid4().hex[:12]}:{step}"


@pytest.fixture(scope="module")
def stripe_api(localstripe_url) -> stripe.StripeClient:
    """The raw SDK, for what a storefront would do (tokenize a card) and for checking state."""
    return stripe.StripeClient(STRIPE_TEST_KEY, base_addresses={"api": localstripe_url}, max_network_retries=0,
                               http_client=stripe.HTTPXClient(timeout=10))


async def card(stripe_api, number: str) -> str:
    method = await stripe_api.v1.payment_methods.create_async(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    return method.id


async def authorized(gateway, amount=5000, method="pm_card_visa", currency="USD"):
    return await gateway.authorize(amount=amount, currency=currency, payment_method=method,
                                   idempotency_key=key("authorize"), reference="chk_test")


async def test_authorize_holds_the_amount_for_manual_capture(stripe_gateway, stripe_api):
    result = await authorized(stripe_gateway, amount=1234)
    assert (result.status, result.amount, result.client_secret) == ("authorized", 1234, None)
    intent = await stripe_api.v1.payment_intents.retrieve_async(result.provider_ref)
    assert (intent.status, intent.amount, intent.currency, intent.capture_method) == (
        "requires_capture", 1234, "usd", "manual")
    assert intent.metadata["reference"] == "chk_test"


async def test_partial_capture_then_partial_refunds(stripe_gateway, stripe_api):
    auth = await authorized(stripe_gateway, amount=5000)
    captured = await stripe_gateway.capture(provider_ref=auth.provider_ref, amount=3000, currency="USD",
                                            idempotency_key=key("capture"))
    assert (captured.provider_ref, captured.status, captured.amount) == (auth.provider_ref, "captured", 3000)
    first = await stripe_gateway.refund(provider_ref=auth.provider_ref, amount=1000, currency="USD",
                                        idempotency_key=key("refund-1"))
    second = await stripe_gateway.refund(provider_ref=auth.provider_ref, amount=500, currency="USD",
                                         idempotency_key=key("refund-2"))
    assert (first.status, first.amount, second.status, second.amount) == ("refunded", 1000, "refunded", 500)
    assert first.provider_ref.startswith("re_") and first.provider_ref != second.provider_ref
    assert (await stripe_api.v1.payment_intents.retrieve_async(auth.provider_ref)).status == "succeeded"


async def test_void_cancels_the_authorization_and_is_safe_to_repeat(stripe_gateway, stripe_api):
    auth = await authorized(stripe_gateway)
    voided = await stripe_gateway.void(provider_ref=auth.provider_ref, idempotency_key=key("void"))
    assert (voided.status, voided.amount) == ("voided", 0)
    assert (await stripe_api.v1.payment_intents.retrieve_async(auth.provider_ref)).status == "canceled"
    again = await stripe_gateway.void(provider_ref=auth.provider_ref, idempotency_key=key("void-again"))
    assert again.status == "voided"


@pytest.mark.parametrize("source", ["number", "token"])
async def test_declined_card_is_a_business_error(stripe_gateway, stripe_api, source):
    method = await card(stripe_api, DECLINED_CARD) if source == "number" else "pm_card_chargeCustomerFail"
    with pytest.raises(PaymentDeclined) as declined:
        await authorized(stripe_gateway, method=method)
    assert declined.value.code == "payment_declined"
    assert declined.value.details["decline_code"] == "card_declined"
    assert "intent" not in declined.value.details  # details travel in Temporal payloads: plain data only


async def test_3ds_card_requires_action_with_a_client_secret(stripe_gateway, stripe_api):
    result = await authorized(stripe_gateway, method=await card(stripe_api, THREE_DS_CARD))
    assert result.status == "requires_action"
    assert result.client_secret.startswith(f"{result.provider_ref}_secret_")


async def test_saved_customer_is_charged_off_session(stripe_gateway, stripe_api):
    customer = await stripe_gateway.create_customer(email="ada@example.com", payment_method="pm_card_visa",
                                                    idempotency_key=key("customer"))
    assert customer.customer_ref.startswith("cus_") and customer.payment_method.startswith("pm_")
    charged = await stripe_gateway.charge_off_session(
        customer_ref=customer.customer_ref, payment_method=customer.payment_method, amount=1500, currency="USD",
        idempotency_key=key("renewal"), reference="sub_1:2025-01")
    assert (charged.status, charged.amount) == ("captured", 1500)
    intent = await stripe_api.v1.payment_intents.retrieve_async(charged.provider_ref)
    assert (intent.status, intent.customer) == ("succeeded", customer.customer_ref)


async def test_off_session_charge_needing_authentication_asks_for_the_customer(stripe_gateway, stripe_api):
    customer = await stripe_gateway.create_customer(email="bob@example.com",
                                                    payment_method=await card(stripe_api, THREE_DS_CARD),
                                                    idempotency_key=key("customer"))
    result = await stripe_gateway.charge_off_session(
        customer_ref=customer.customer_ref, payment_method=customer.payment_method, amount=900, currency="USD",
        idempotency_key=key("renewal"), reference="sub_2:2025-01")
    assert result.status == "requires_action" and result.client_secret


async def test_invalid_request_is_a_business_error_not_a_decline(stripe_gateway):
    with pytest.raises(DomainError) as refused:
        await stripe_gateway.capture(provider_ref="pi_doesnotexist", amount=100, currency="USD",
                                     idempotency_key=key("capture"))
    assert refused.value.code == "payment_invalid_request"
    assert not isinstance(refused.value, PaymentDeclined)


class FakeStripe(FakeProvider):
    """Answers every call with a canned PaymentIntent, recording headers."""

    def route(self, method, path, query, body, headers):
        return 200, {"id": "pi_fake", "object": "payment_intent", "status": "requires_capture", "amount": 100,
                     "currency": "usd", "client_secret": "pi_fake_secret_x", "next_action": None}

    def error_body(self, status):
        return {"error": {"type": "api_error", "message": f"scripted {status}"}}


@pytest.fixture
def fake_stripe():
    server = FakeStripe()
    url = server.start()
    yield server, StripePaymentGateway(STRIPE_TEST_KEY, url, timeout=0.5)
    server.stop()


async def test_idempotency_key_reaches_stripe(fake_stripe):
    server, gateway = fake_stripe
    await gateway.authorize(amount=100, currency="USD", payment_method="pm_card_visa",
                            idempotency_key="chk_abc:authorize", reference="chk_abc")
    await gateway.capture(provider_ref="pi_fake", amount=100, currency="USD", idempotency_key="chk_abc:capture")
    assert [r["headers"].get("Idempotency-Key") for r in server.requests] == ["chk_abc:authorize", "chk_abc:capture"]


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_server_errors_and_rate_limits_are_retryable(fake_stripe, status):
    server, gateway = fake_stripe
    server.script(status)
    with pytest.raises(ProviderUnavailable):
        await authorized(gateway)


async def test_timeout_is_retryable(fake_stripe):
    server, gateway = fake_stripe
    server.script(200, delay=1.5)
    with pytest.raises(ProviderUnavailable):
        await authorized(gateway)


async def test_unreachable_stripe_is_retryable():
    gateway = StripePaymentGateway(STRIPE_TEST_KEY, f"http://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(ProviderUnavailable) as down:
        await authorized(gateway)
    assert not isinstance(down.value, DomainError)


async def test_ledger_refuses_an_over_refund_that_localstripe_would_accept(stripe_gateway, engine):
    payments = PaymentService(engine, stripe_gateway)
    ref = f"pay_{uuid.uuid4().hex[:8]}"
    auth = await payments.authorize(ref, 3000, "USD", "pm_card_visa", f"{ref}:auth")
    await payments.capture(ref, auth, 3000, f"{ref}:capture")
    await payments.refund(ref, auth, 2000, f"{ref}:refund-1")
    with pytest.raises(DomainError) as refused:
        await payments.refund(ref, auth, 1500, f"{ref}:refund-2")
    assert refused.value.code == "refund_exceeds_captured"
    # The provider itself would have let it through:
    unchecked = await stripe_gateway.refund(provider_ref=auth.authorization_id, amount=1500, currency="USD",
                                            idempotency_key=f"{ref}:unchecked")
    assert unchecked.status == "refunded"


# -- split orders and look-ups ---------------------------------------------------

@pytest.fixture(scope="module")
def multicapture_gateway(localstripe_url) -> StripePaymentGateway:
    """SPLIT_CAPTURE_POLICY=multicapture: authorizations ask for multicapture."""
    return StripePaymentGateway(STRIPE_TEST_KEY, localstripe_url, request_multicapture=True)


async def test_two_parcels_on_localstripe_fall_back_to_one_capture_of_the_whole_order(
        multicapture_gateway, stripe_api, engine):
    """localstripe accepts ``request_multicapture`` and ignores it (its charges carry no multicapture status),
    so the authorization reports multicapture unavailable and the first parcel captures the whole order."""
    payments = PaymentService(engine, multicapture_gateway)
    ref, total, shares = f"chk_{uuid.uuid4().hex[:8]}", 5812, (2656, 3156)
    auth = await payments.authorize(ref, total, "USD", "pm_card_visa", f"{ref}:auth")
    assert auth.multicapture is False
    uncaptured = total
    for parcel, share in enumerate(shares):
        amount = parcel_capture(share, uncaptured, multicapture=auth.multicapture)
        if amount:  # the shipment workflow skips a capture of 0
            await payments.capture(ref, auth, amount, f"{ref}:parcel-{parcel}")
        uncaptured -= amount
    intent = await stripe_api.v1.payment_intents.retrieve_async(auth.authorization_id)
    charge = await stripe_api.v1.charges.retrieve_async(intent.latest_charge if isinstance(intent.latest_charge, str)
                                                        else intent.latest_charge.id)
    # Captured in full: nothing released back to the card (localstripe shows a released rest as refunded).
    assert (intent.status, charge.captured, charge.amount, charge.amount_refunded) == ("succeeded", True, total, 0)


async def test_localstripe_enforces_capture_once(stripe_gateway):
    """Why the fallback is needed: a second capture of the same intent is refused (what issue 11 saw)."""
    auth = await authorized(stripe_gateway, amount=5812)
    await stripe_gateway.capture(provider_ref=auth.provider_ref, amount=2656, currency="USD",
                                 idempotency_key=key("capture-1"))
    with pytest.raises(DomainError) as refused:
        await stripe_gateway.capture(provider_ref=auth.provider_ref, amount=3156, currency="USD",
                                     idempotency_key=key("capture-2"))
    assert refused.value.code == "payment_invalid_request"


async def test_final_capture_false_is_sent_only_for_multicapture_and_localstripe_refuses_it(stripe_gateway):
    """The adapter sends ``final_capture=false`` only when multicapture was granted; localstripe, which never
    grants it, answers 400 to the parameter (an honest refusal, not a silent partial capture)."""
    auth = await authorized(stripe_gateway, amount=1000)
    with pytest.raises(DomainError) as refused:
        await stripe_gateway.capture(provider_ref=auth.provider_ref, amount=400, currency="USD",
                                     idempotency_key=key("capture"), final=False)
    assert refused.value.details["http_status"] == 400


async def test_lookup_reads_what_stripe_did_for_each_operation(stripe_gateway):
    auth_key = key("authorize")
    auth = await stripe_gateway.authorize(amount=3000, currency="USD", payment_method="pm_card_visa",
                                          idempotency_key=auth_key, reference="chk_lookup")

    async def lookup(kind, op_key=auth_key):
        return await stripe_gateway.lookup(kind=kind, idempotency_key=op_key, reference="chk_lookup",
                                           provider_ref=auth.provider_ref)

    found = await lookup("authorize")
    assert (found.provider_ref, found.status, found.amount) == (auth.provider_ref, "authorized", 3000)
    assert await lookup("capture") is None  # nothing captured yet
    await stripe_gateway.capture(provider_ref=auth.provider_ref, amount=3000, currency="USD",
                                 idempotency_key=key("capture"))
    captured = await lookup("capture")
    assert (captured.status, captured.amount) == ("captured", 3000)
    refund_key = key("refund")
    assert await lookup("refund", refund_key) is None
    refunded = await stripe_gateway.refund(provider_ref=auth.provider_ref, amount=1200, currency="USD",
                                           idempotency_key=refund_key)
    found_refund = await lookup("refund", refund_key)
    assert (found_refund.provider_ref, found_refund.status, found_refund.amount) == (refunded.provider_ref,
                                                                                     "refunded", 1200)


async def test_lookup_of_a_voided_authorization(stripe_gateway):
    auth = await authorized(stripe_gateway)
    kwargs = {"idempotency_key": key("void"), "reference": "chk_test", "provider_ref": auth.provider_ref}
    assert await stripe_gateway.lookup(kind="void", **kwargs) is None
    await stripe_gateway.void(provider_ref=auth.provider_ref, idempotency_key=kwargs["idempotency_key"])
    assert (await stripe_gateway.lookup(kind="void", **kwargs)).status == "voided"
    assert (await stripe_gateway.lookup(kind="authorize", **kwargs)).status == "voided"


class SearchingStripe(FakeProvider):
    """Answers Stripe's PaymentIntent search (which localstripe lacks) with what ``found`` holds, and the list
    of recent intents with what ``listed`` holds (the search index lags; the list does not)."""

    found: list[dict] = []
    listed: list[dict] = []

    def route(self, method, path, query, body, headers):
        if path.endswith("/search"):
            return 200, {"object": "search_result", "data": self.found, "has_more": False, "url": path}
        return 200, {"object": "list", "data": self.listed, "has_more": False, "url": path}

    def error_body(self, status):
        return {"error": {"type": "api_error", "message": f"scripted {status}"}}


async def test_lookup_without_an_intent_id_searches_by_reference():
    server = SearchingStripe()
    gateway = StripePaymentGateway(STRIPE_TEST_KEY, server.start(), timeout=2)
    held = {"id": "pi_held", "object": "payment_intent", "status": "requires_capture", "amount": 700,
            "currency": "usd", "created": 2, "client_secret": "s", "metadata": {"reference": "chk_q"}}
    other = {**held, "id": "pi_other", "metadata": {"reference": "chk_other"}}
    try:
        server.listed = [other]
        assert await gateway.lookup(kind="authorize", idempotency_key="chk_q:authorize", reference="chk_q") is None
        server.found = [held]
        found = await gateway.lookup(kind="authorize", idempotency_key="chk_q:authorize", reference="chk_q")
        assert (found.provider_ref, found.status, found.amount) == ("pi_held", "authorized", 700)
        searched = server.requests[-1]
        assert searched["path"] == "/v1/payment_intents/search"
        assert "metadata['reference']:'chk_q'" in str(searched["query"])
        assert all(request["method"] == "GET" for request in server.requests)  # never repeats the authorization
    finally:
        server.stop()


async def test_lookup_reads_the_current_list_when_the_search_index_lags():
    server = SearchingStripe()
    gateway = StripePaymentGateway(STRIPE_TEST_KEY, server.start(), timeout=2)
    server.found = []  # created seconds ago: not searchable yet
    server.listed = [{"id": "pi_fresh", "object": "payment_intent", "status": "requires_capture", "amount": 900,
                      "currency": "usd", "created": 5, "client_secret": "s", "metadata": {"reference": "chk_new"}}]
    try:
        found = await gateway.lookup(kind="authorize", idempotency_key="chk_new:authorize", reference="chk_new")
        assert (found.provider_ref, found.status) == ("pi_fresh", "authorized")
        assert [r["path"] for r in server.requests] == ["/v1/payment_intents/search", "/v1/payment_intents"]
    finally:
        server.stop()


# -- settings -----------------------------------------------------------------

def settings(**values) -> Settings:
    return Settings(_env_file=None, environment="test", **values)


def test_without_keys_every_port_uses_the_local_stand_in(clean_provider_env):
    built = build_adapters(settings())
    assert (built.payment.name, built.tax.name, built.shipping.name) == ("local", "local", "local")
    assert isinstance(built.payment, LocalPaymentGateway)


def test_a_stripe_key_selects_stripe(clean_provider_env):
    configured = settings(stripe_api_key="sk_test_123", stripe_api_base="http://127.0.0.1:8420")
    assert configured.payment_backend == "stripe"
    assert isinstance(build_adapters(configured).payment, StripePaymentGateway)


def test_split_capture_policy_decides_whether_authorizations_ask_for_multicapture(clean_provider_env):
    assert build_adapters(settings()).payment.request_multicapture is True  # default: multicapture
    assert build_adapters(settings(split_capture_policy="capture_all_first")).payment.request_multicapture is False
    stripe_configured = settings(stripe_api_key="sk_test_123", split_capture_policy="capture_all_first")
    assert build_adapters(stripe_configured).payment.request_multicapture is False
    assert build_adapters(settings(local_payment_multicapture=False)).payment.multicapture_available is False
    with pytest.raises(ValueError):
        settings(split_capture_policy="sometimes")


def test_an_explicit_local_backend_wins_over_a_key(clean_provider_env):
    assert settings(stripe_api_key="sk_test_123", payment_backend="local").payment_backend == "local"


@pytest.mark.parametrize("bad, message", [
    ("pk_test_123", "publishable key"),
    ("sk_prod_123", "must start with sk_test_"),
    ("   ", "must start with sk_test_"),
])
def test_malformed_stripe_key_fails_fast(clean_provider_env, bad, message):
    with pytest.raises(ValueError, match=message):
        settings(stripe_api_key=bad)


def test_stripe_backend_without_a_key_fails_fast(clean_provider_env):
    with pytest.raises(ValueError, match="PAYMENT_BACKEND=stripe needs STRIPE_API_KEY"):
        settings(payment_backend="stripe")


def test_webhook_secret_must_look_like_one(clean_provider_env):
    with pytest.raises(ValueError, match="whsec_"):
        settings(stripe_webhook_secret="secret")


def test_production_still_refuses_local_stand_ins(clean_provider_env):
    with pytest.raises(ValueError, match="production refuses local stand-in backends for: tax, shipping"):
        Settings(_env_file=None, environment="production", database_url="postgresql://db/x",
                 temporal_address="temporal:7233", stripe_api_key="sk_live_123")


async def test_a_key_still_in_progress_at_stripe_is_asked_again_not_refused():
    """Stripe answers 409 while another request under the same key runs (a second attempt that overlapped the
    first): retryable under the same key; a key reused with other parameters (400) stays a refusal."""
    from adapters.stripe_payment import _call
    from models.errors import Conflict

    async def answering(status: int):
        raise stripe.IdempotencyError("idempotency trouble", http_status=status)

    with pytest.raises(ProviderUnavailable):
        await _call(answering(409))
    with pytest.raises(Conflict) as refused:
        await _call(answering(400))
    assert refused.value.code == "idempotency_key_reused"
