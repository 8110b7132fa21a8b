"""Charging a card again after checkout: the local simulator refuses what Stripe refuses (a Stripe.js card used
once without a customer) and keeps a card saved for a customer usable for that customer only; checkout's hold
saves the card for a provider customer (Stripe: ``customer`` + ``setup_future_usage``, against localstripe through
``stripe_proxy``), and later holds go through that customer off session."""

import uuid

import pytest
import stripe
from sqlalchemy import select

from activities.payments_service import PaymentService
from adapters.local.payment import LocalPaymentGateway
from adapters.ports import ProviderUnavailable
from adapters.stripe_payment import StripePaymentGateway
from db import payments as ledger
from db.tables import carts, checkouts, customer_payment_methods, customers
from models.errors import DomainError
from models.payments import checkout_authorization_key
from tests.integration.checkout_helpers import stripe_js_card
from tests.providers.conftest import STRIPE_TEST_KEY
from tests.providers.stripe_proxy import StripeProxy


def key(step: str) -> str:
    return f"test:{uuid.uuid4().hex}:{step}"


def new_ref() -> str:
    return f"chk_{uuid.uuid4().hex[:16]}"


@pytest.fixture(params=["memory", "postgres"])
def simulator(request):
    """Both stores of the simulator: in-process, and PostgreSQL (the worker's)."""
    if request.param == "memory":
        return LocalPaymentGateway()
    return LocalPaymentGateway(engine=request.getfixturevalue("engine"))


async def hold(gateway, card: str, **customer):
    return await gateway.authorize(amount=5000, currency="USD", payment_method=card, idempotency_key=key("authorize"),
                                   reference=f"ref-{uuid.uuid4().hex}", **customer)


async def test_a_stripe_js_card_used_without_a_customer_is_refused_the_second_time(simulator):
    card = stripe_js_card()
    assert (await hold(simulator, card)).status == "authorized"

    with pytest.raises(DomainError) as refused:
        await hold(simulator, card)

    assert refused.value.code == "payment_invalid_request"
    assert "may not be used again" in refused.value.message


async def test_a_test_token_is_a_new_card_each_time_as_at_stripe(simulator):
    first, second = await hold(simulator, "pm_card_visa"), await hold(simulator, "pm_card_visa")
    assert first.status == second.status == "authorized"


async def test_a_refused_reuse_replays_its_refusal_under_the_same_key(simulator):
    card, again = stripe_js_card(), key("authorize")
    await hold(simulator, card)
    call = {"amount": 5000, "currency": "USD", "payment_method": card, "idempotency_key": again, "reference": "r"}
    for _ in range(2):
        with pytest.raises(DomainError, match="may not be used again"):
            await simulator.authorize(**call)


# ---- checkout saves the card; later holds go through its customer ---------------------------------------------

@pytest.fixture(scope="module")
def proxied_stripe(localstripe_url):
    proxy = StripeProxy(localstripe_url)
    url = proxy.start()
    yield proxy, StripePaymentGateway(STRIPE_TEST_KEY, url)
    proxy.stop()


async def localstripe_card(localstripe_url) -> str:
    """A PaymentMethod of its own, as Stripe.js makes one (not a reusable test token)."""
    api = stripe.StripeClient(STRIPE_TEST_KEY, base_addresses={"api": localstripe_url}, max_network_retries=0)
    method = await api.v1.payment_methods.create_async(
        params={"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034,
                                         "cvc": "123"}})
    return method.id


async def test_checkout_saves_the_stripe_card_for_a_customer_and_later_holds_use_it_off_session(
        proxied_stripe, localstripe_url, engine):
    proxy, gateway = proxied_stripe
    service, card, checkout = PaymentService(engine, gateway), await localstripe_card(localstripe_url), new_ref()

    held = await service.authorize_saving_card(checkout, 5000, "USD", card, checkout_authorization_key(checkout))

    sent = proxy.intents_created()[-1]
    assert held.customer_ref is not None and held.customer_ref.startswith("cus_")
    assert (sent["customer"], sent["setup_future_usage"], sent.get("off_session")) == (held.customer_ref,
                                                                                      "off_session", None)
    api = stripe.StripeClient(STRIPE_TEST_KEY, base_addresses={"api": localstripe_url}, max_network_retries=0)
    assert (await api.v1.payment_methods.retrieve_async(card)).customer == held.customer_ref

    renewal = f"{checkout}:reauth-1"
    again = await service.authorize(renewal, 5000, "USD", card, f"{renewal}:authorize", customer_ref=held.customer_ref)

    sent = proxy.intents_created()[-1]
    assert again.status == "authorized" and again.authorization_id != held.authorization_id
    assert (sent["customer"], sent["off_session"], sent.get("setup_future_usage")) == (held.customer_ref, "true",
                                                                                       None)


async def test_localstripe_refuses_setup_future_usage_so_the_proxy_plays_that_part(stripe_gateway):
    customer = await stripe_gateway.create_customer(email="ada@example.com", idempotency_key=new_ref())
    with pytest.raises(DomainError, match="setup_future_usage"):
        await stripe_gateway.authorize(amount=5000, currency="USD", payment_method="pm_card_visa",
                                       idempotency_key=key("authorize"), reference="r",
                                       customer_ref=customer.customer_ref, save_for_future=True)


async def test_a_saved_stripe_js_card_is_held_again_through_its_customer_only(simulator):
    card, customer = stripe_js_card(), await simulator.create_customer(email="ada@example.com",
                                                                         idempotency_key=new_ref())
    await hold(simulator, card, customer_ref=customer.customer_ref, save_for_future=True)

    later = await hold(simulator, card, customer_ref=customer.customer_ref, off_session=True)
    assert later.status == "authorized"
    other = await simulator.create_customer(email="eve@example.com", idempotency_key=new_ref())
    for stranger in ({}, {"customer_ref": other.customer_ref, "off_session": True}):
        with pytest.raises(DomainError) as refused:
            await hold(simulator, card, **stranger)
        assert refused.value.code == "payment_invalid_request"


# ---- the provider customer: made once per checkout (or reused for a signed-in shopper) ----------------------------

class CustomerAnswerLost:
    """The customer is made at the provider, but the first answer never arrives (or, ``refuse``: it says no)."""

    def __init__(self, inner, *, refuse: bool = False):
        self.inner, self.refuse, self.keys = inner, refuse, []
        self.name, self.request_multicapture = inner.name, inner.request_multicapture

    async def create_customer(self, **call):
        self.keys.append(call["idempotency_key"])
        if self.refuse:
            raise DomainError("the payment provider refused the request", code="payment_invalid_request")
        customer = await self.inner.create_customer(**call)
        if len(self.keys) == 1:
            raise ProviderUnavailable("local: connection reset after the request was sent")
        return customer

    def __getattr__(self, name):
        return getattr(self.inner, name)


async def test_an_unanswered_customer_is_asked_for_again_under_the_same_key(engine):
    gateway = CustomerAnswerLost(LocalPaymentGateway(engine=engine))
    service, checkout, card = PaymentService(engine, gateway), new_ref(), stripe_js_card()
    with pytest.raises(ProviderUnavailable):
        await service.authorize_saving_card(checkout, 5000, "USD", card, checkout_authorization_key(checkout))

    held = await service.authorize_saving_card(checkout, 5000, "USD", card, checkout_authorization_key(checkout))

    assert gateway.keys == [checkout, checkout], "the same key: the provider answers the customer it made"
    made = await gateway.inner.create_customer(email=None, idempotency_key=checkout)
    assert (held.status, held.customer_ref) == ("authorized", made.customer_ref)


async def test_a_refused_customer_still_takes_the_order_without_saving_the_card(engine):
    """Saving the card is for the order's later charges; a provider refusing the customer must not cost the order.
    A retry takes the same road (the refusal replays under the same key): one plain hold."""
    gateway = CustomerAnswerLost(LocalPaymentGateway(engine=engine), refuse=True)
    service, checkout, card = PaymentService(engine, gateway), new_ref(), stripe_js_card()
    held = [await service.authorize_saving_card(checkout, 5000, "USD", card, checkout_authorization_key(checkout))
            for _ in range(2)]
    assert held[0] == held[1] and held[0].customer_ref is None
    async with engine.connect() as conn:
        assert (await ledger.totals(conn, checkout)).authorized == 5000


async def signed_in_checkout(engine, customer_id: str | None) -> str:
    checkout, cart = new_ref(), f"cart_{uuid.uuid4().hex[:12]}"
    async with engine.begin() as conn:
        await conn.execute(carts.insert().values(id=cart, currency="USD", customer_id=customer_id))
        await conn.execute(checkouts.insert().values(
            id=checkout, idempotency_key=checkout, request_hash="x", cart_id=cart, email="ada@example.com",
            order_id=f"ord_{checkout}", workflow_id=f"checkout-{checkout}"))
    return checkout


async def test_a_signed_in_shopper_keeps_one_provider_customer_across_checkouts(engine):
    customer_id = f"cus_{uuid.uuid4().hex[:12]}"
    async with engine.begin() as conn:
        await conn.execute(customers.insert().values(id=customer_id, email=f"{customer_id}@example.com"))
    service = PaymentService(engine, LocalPaymentGateway(engine=engine))

    held = []
    for owner in (customer_id, customer_id, None):
        checkout = await signed_in_checkout(engine, owner)
        held.append(await service.authorize_saving_card(checkout, 5000, "USD", stripe_js_card(),
                                                        checkout_authorization_key(checkout)))

    assert held[0].customer_ref == held[1].customer_ref != held[2].customer_ref, "a guest gets one of their own"
    async with engine.connect() as conn:
        saved = (await conn.execute(select(customer_payment_methods.c.provider_ref).where(
            customer_payment_methods.c.customer_id == customer_id))).scalars().all()
    assert saved == [held[0].customer_ref]


class AuthorizeAnswerLost:
    """The first hold is made at the provider, but its answer never arrives; customers made are counted."""

    def __init__(self, inner):
        self.inner, self.holds, self.customers = inner, [], []
        self.name, self.request_multicapture = inner.name, inner.request_multicapture

    async def authorize(self, **call):
        self.holds.append(call)
        answer = await self.inner.authorize(**call)
        if len(self.holds) == 1:
            raise ProviderUnavailable("local: connection reset after the request was sent")
        return answer

    async def create_customer(self, **call):
        self.customers.append(call)
        return await self.inner.create_customer(**call)

    def __getattr__(self, name):
        return getattr(self.inner, name)


async def test_an_authorization_begun_before_cards_were_saved_is_asked_again_unchanged(engine):
    """A checkout in flight across the deploy: the older build's request, repeated under its key as it was (Stripe
    answers a key reused with other parameters with an idempotency error)."""
    gateway = AuthorizeAnswerLost(LocalPaymentGateway(engine=engine))
    service, checkout, card = PaymentService(engine, gateway), new_ref(), stripe_js_card()
    with pytest.raises(ProviderUnavailable):  # what the older build did: a plain hold
        await service.authorize(checkout, 5000, "USD", card, checkout_authorization_key(checkout))

    held = await service.authorize_saving_card(checkout, 5000, "USD", card, checkout_authorization_key(checkout))

    assert (held.status, held.customer_ref) == ("authorized", None)
    assert gateway.holds[1] == gateway.holds[0] and gateway.customers == []
