"""POST /carts/{id}/quote and the agreement of POST /checkouts (quote_id / expected_total), end to end:
HTTP, real PostgreSQL, a real Temporal dev server and the local providers."""

from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import func, select, update
from temporalio.client import WorkflowExecutionStatus

from activities.fulfillment import _shipment_cart
from adapters.factory import Adapters
from adapters.local.email import OutboxEmailSender
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from adapters.ports import ProviderUnavailable
from db import fulfillment
from db.tables import payment_operations, quotes
from models import workflow_ids
from models.fulfillment import FulfillmentPolicy
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import (
    ADDRESS, atp, cart_headers, cart_with, checkout_body, finished_checkout, start_checkout,
)

GERMANY = {"name": "Ada", "line1": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117", "country": "DE"}


class CountingCarrier(LocalShippingCarrier):
    """The worker's local carrier, counting the rate requests that reach it; ``down`` plays an outage,
    ``offers`` a carrier that serves only those speeds."""

    def __init__(self):
        self.rate_calls, self.down, self.offers = 0, False, None

    async def rates(self, *, cart, address):
        self.rate_calls += 1
        if self.down:
            raise ProviderUnavailable("carrier: 502 Bad Gateway")
        rates = await super().rates(cart=cart, address=address)
        return [rate for rate in rates if self.offers is None or rate.service in self.offers]


@pytest.fixture(scope="module")
def carrier() -> CountingCarrier:
    return CountingCarrier()


@pytest_asyncio.fixture(scope="module")
async def worker(temporal_env, engine, task_queue, tmp_path_factory, carrier):
    """This module's worker, with ``carrier``: the only process a quote's provider calls may run in."""
    from worker import build_worker

    adapters = Adapters(payment=LocalPaymentGateway(engine=engine), tax=LocalTaxCalculator(), shipping=carrier,
                        email=OutboxEmailSender(tmp_path_factory.mktemp("outbox")))
    async with build_worker(temporal_env.client, task_queue, engine, adapters) as running:
        yield running


@pytest.fixture(scope="module")
async def warehouse(engine):
    return await make_location(engine)


async def quote(api, cart_id: str, **body):
    return await api.post(f"/carts/{cart_id}/quote", json={"shipping_address": ADDRESS, **body},
                          headers=cart_headers(cart_id))


async def expire(engine, quote_id: str) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with engine.begin() as conn:
        body = await conn.scalar(select(quotes.c.body).where(quotes.c.id == quote_id))
        await conn.execute(update(quotes).where(quotes.c.id == quote_id)
                           .values(body={**body, "expires_at": past.isoformat()}, expires_at=past))


async def set_price(api, sku: str, amount: int) -> None:
    changed = await api.put(f"/admin/catalog/variants/{sku}/prices",
                            json={"prices": [{"currency": "USD", "amount": amount}]})
    assert changed.status_code == 200, changed.text


async def test_quote_answers_lines_shipping_tax_and_total(api, engine, warehouse, carrier):
    sku = await make_sku(engine, price=2500, stock={warehouse: 10}, weight_grams=300)
    cart_id = await cart_with(api, {sku: 2})

    answered = await quote(api, cart_id)

    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["quote_id"].startswith("quo_")
    assert datetime.fromisoformat(body["expires_at"]) > datetime.now(UTC)
    assert body["currency"] == "USD"
    assert body["lines"] == [{"sku": sku, "title": f"Item {sku}", "quantity": 2, "unit_price": 2500,
                              "discount": 0, "total": 5000}]
    assert {o["speed"]: o["amount"] for o in body["shipping_options"]} == {"standard": 599, "express": 1499}
    assert set(body["shipping_options"][0]) == {"id", "carrier", "service", "speed", "amount", "estimated_days"}
    assert (body["shipping_amount"], body["discount_total"], body["tax_total"]) == (599, 0, 363)
    assert body["total"] == 5000 + 599 + 363


async def test_express_quote_charges_the_express_rate(api, engine, warehouse, carrier):
    sku = await make_sku(engine, price=2500, stock={warehouse: 10}, weight_grams=300)
    cart_id = await cart_with(api, {sku: 2})

    body = (await quote(api, cart_id, shipping_speed="express")).json()

    assert body["shipping_speed"] == "express"
    assert (body["shipping_amount"], body["total"]) == (1499, 5000 + 1499 + 363)


async def test_the_providers_are_asked_by_a_workflow_in_the_worker_not_by_the_api(
        api, temporal_env, engine, warehouse, carrier):
    sku = await make_sku(engine, price=1000, stock={warehouse: 10})
    cart_id = await cart_with(api, {sku: 1})
    calls = carrier.rate_calls

    answered = (await quote(api, cart_id)).json()

    assert carrier.rate_calls == calls + 1, "the worker's carrier must be the one asked"
    async with engine.connect() as conn:
        key = await conn.scalar(select(quotes.c.fingerprint).where(quotes.c.id == answered["quote_id"]))
    handle = temporal_env.client.get_workflow_handle(workflow_ids.quote(cart_id, key))
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert (await handle.result())["quote_id"] == answered["quote_id"]


async def test_repeat_quote_of_an_unchanged_cart_is_reused_without_asking_providers(api, engine, warehouse, carrier):
    sku = await make_sku(engine, price=1000, stock={warehouse: 10})
    cart_id = await cart_with(api, {sku: 1})
    first = (await quote(api, cart_id)).json()
    calls = carrier.rate_calls

    again = (await quote(api, cart_id)).json()

    assert again == first
    assert carrier.rate_calls == calls, "a repeat quote must not ask the carrier again"
    elsewhere = (await quote(api, cart_id, shipping_address=GERMANY)).json()
    assert elsewhere["quote_id"] != first["quote_id"]
    await api.post(f"/carts/{cart_id}/lines", json={"sku": sku, "quantity": 1}, headers=cart_headers(cart_id))
    changed = (await quote(api, cart_id)).json()
    assert changed["quote_id"] != first["quote_id"]
    assert changed["lines"][0]["quantity"] == 2


async def test_quote_of_an_empty_or_missing_cart_is_refused(api, carrier):
    empty = await cart_with(api, {})
    assert (await quote(api, empty)).json()["error"]["code"] == "cart_empty"
    missing = await api.post("/carts/cart_nothere/quote", json={"shipping_address": ADDRESS})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "cart_not_found"


async def test_checkout_held_to_its_quote_completes_at_the_quoted_total(api, temporal_env, engine, warehouse, carrier):
    sku = await make_sku(engine, price=2500, stock={warehouse: 10}, weight_grams=300)
    cart_id = await cart_with(api, {sku: 2})
    quoted = (await quote(api, cart_id)).json()

    started = await start_checkout(api, checkout_body(cart_id, quote_id=quoted["quote_id"]))
    assert started.status_code == 202, started.text
    done = await finished_checkout(api, temporal_env.client, started.json()["checkout_id"])

    assert done["status"] == "completed", done
    order = (await api.get(f"/orders/{done['order_id']}")).json()
    assert order["totals"]["total"] == quoted["total"]


async def test_price_raised_after_the_quote_fails_price_changed_and_undoes_everything(
        api, temporal_env, engine, warehouse, carrier):
    sku = await make_sku(engine, price=2500, stock={warehouse: 10}, weight_grams=300)
    cart_id = await cart_with(api, {sku: 2})
    quoted = (await quote(api, cart_id)).json()
    await set_price(api, sku, 2600)

    started = await start_checkout(api, checkout_body(cart_id, quote_id=quoted["quote_id"]))
    checkout_id = started.json()["checkout_id"]
    done = await finished_checkout(api, temporal_env.client, checkout_id)

    assert done["status"] == "failed"
    assert done["error"]["code"] == "price_changed"
    assert done["error"]["details"] == {"expected_total": quoted["total"], "total": 5200 + 599 + 377,
                                        "currency": "USD"}
    assert await atp(api, sku) == 10, "the stock hold is released"
    assert (await api.get(f"/carts/{cart_id}", headers=cart_headers(cart_id))).json()["status"] == "open"
    async with engine.connect() as conn:
        held = await conn.scalar(select(func.count()).select_from(payment_operations)
                                 .where(payment_operations.c.payment_ref == checkout_id))
    assert held == 0, "nothing may be authorized"


async def test_expected_total_alone_is_held_to(api, temporal_env, engine, warehouse, carrier):
    sku = await make_sku(engine, price=1000, stock={warehouse: 5})
    cart_id = await cart_with(api, {sku: 1})
    total = (await quote(api, cart_id)).json()["total"]

    started = await start_checkout(api, checkout_body(cart_id, expected_total=total - 1))
    done = await finished_checkout(api, temporal_env.client, started.json()["checkout_id"])

    assert done["error"]["code"] == "price_changed"
    assert done["error"]["details"]["total"] == total
    retried = await start_checkout(api, checkout_body(cart_id, expected_total=total))
    assert (await finished_checkout(api, temporal_env.client, retried.json()["checkout_id"]))["status"] == "completed"


async def test_checkout_without_an_agreement_charges_as_before(api, temporal_env, engine, warehouse, carrier):
    sku = await make_sku(engine, price=1000, stock={warehouse: 5})
    cart_id = await cart_with(api, {sku: 1})
    await quote(api, cart_id)
    await set_price(api, sku, 1200)

    started = await start_checkout(api, checkout_body(cart_id))
    done = await finished_checkout(api, temporal_env.client, started.json()["checkout_id"])

    assert done["status"] == "completed"


@pytest.mark.parametrize("expected_total", [-1, 10.5, "1000", True])
async def test_bad_expected_total_is_a_validation_error(api, engine, warehouse, expected_total):
    sku = await make_sku(engine, stock={warehouse: 5})
    cart_id = await cart_with(api, {sku: 1})

    started = await start_checkout(api, checkout_body(cart_id, expected_total=expected_total))

    assert started.status_code == 422, started.text
    assert started.json()["error"]["code"] == "validation_error"


async def test_unknown_expired_and_other_carts_quotes_are_refused(api, engine, warehouse, carrier):
    sku = await make_sku(engine, stock={warehouse: 5})
    cart_id, other_cart = await cart_with(api, {sku: 1}), await cart_with(api, {sku: 1})
    other_quote = (await quote(api, other_cart)).json()["quote_id"]
    own_quote = (await quote(api, cart_id)).json()["quote_id"]

    async def refusal(**agreement):
        started = await start_checkout(api, checkout_body(cart_id, **agreement))
        return started.status_code, started.json()["error"]["code"]

    assert await refusal(quote_id="quo_nothere") == (404, "quote_not_found")
    assert await refusal(quote_id=other_quote) == (422, "quote_for_other_cart")
    assert await refusal(quote_id=own_quote, expected_total=1) == (422, "expected_total_mismatch")
    await expire(engine, own_quote)
    assert await refusal(quote_id=own_quote) == (422, "quote_expired")
    assert (await api.get(f"/carts/{cart_id}", headers=cart_headers(cart_id))).json()["status"] == "open"


async def test_storefront_cannot_use_a_strangers_quote(api_as, engine, warehouse, carrier):
    shop = api_as("storefront")
    sku = await make_sku(engine, stock={warehouse: 5})
    mine, theirs = await cart_with(shop, {sku: 1}), await cart_with(shop, {sku: 1})
    their_quote = (await quote(shop, theirs)).json()["quote_id"]

    stranger = await shop.post("/checkouts", json=checkout_body(mine, quote_id=their_quote),
                               headers={"Idempotency-Key": f"k-{their_quote}", **cart_headers(mine)})
    assert stranger.status_code == 404, stranger.text
    assert stranger.json()["error"]["code"] == "quote_not_found"
    foreign = await shop.post(f"/carts/{theirs}/quote", json={"shipping_address": ADDRESS},
                              headers=cart_headers(mine))
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "cart_not_found"


EXEMPT = {"exemption_number": "EX-123", "entity_use_code": "E"}


async def test_a_tax_exempt_buyer_is_quoted_and_charged_without_tax(api, temporal_env, engine, warehouse, carrier):
    sku = await make_sku(engine, price=2500, stock={warehouse: 10}, weight_grams=300)
    cart_id = await cart_with(api, {sku: 2})
    taxed = (await quote(api, cart_id)).json()

    exempt = (await quote(api, cart_id, tax_exemption=EXEMPT)).json()
    assert exempt["quote_id"] != taxed["quote_id"]
    assert (exempt["tax_total"], exempt["total"]) == (0, taxed["total"] - taxed["tax_total"])

    started = await start_checkout(api, checkout_body(cart_id, quote_id=exempt["quote_id"], tax_exemption=EXEMPT))
    done = await finished_checkout(api, temporal_env.client, started.json()["checkout_id"])
    assert done["status"] == "completed", done
    async with engine.connect() as conn:
        order = await fulfillment.snapshot(conn, done["order_id"], FulfillmentPolicy())
    assert order.total == exempt["total"]
    assert _shipment_cart(order, {sku: 2}).tax_exemption.model_dump() == EXEMPT, "the tax commit is exempt too"


async def test_an_exemption_without_a_number_or_code_is_refused(api, engine, warehouse):
    sku = await make_sku(engine, stock={warehouse: 5})
    cart_id = await cart_with(api, {sku: 1})
    started = await start_checkout(api, checkout_body(cart_id, tax_exemption={}))
    assert started.status_code == 422 and started.json()["error"]["code"] == "validation_error"


async def test_a_provider_outage_is_a_503_to_retry_not_a_500(api, engine, warehouse, carrier):
    sku = await make_sku(engine, stock={warehouse: 5})
    cart_id = await cart_with(api, {sku: 1})
    carrier.down = True
    try:
        answered = await quote(api, cart_id)
    finally:
        carrier.down = False

    assert answered.status_code == 503, answered.text
    assert answered.json()["error"]["code"] == "quote_unavailable"
    assert int(answered.headers["Retry-After"]) > 0
    assert (await quote(api, cart_id)).status_code == 200, "the same question is asked again once it answers"


async def test_a_refusal_by_the_carrier_keeps_its_code_and_details(api, engine, warehouse, carrier):
    sku = await make_sku(engine, stock={warehouse: 5})
    cart_id = await cart_with(api, {sku: 1})

    carrier.offers = {"standard"}
    try:
        refused = await quote(api, cart_id, shipping_speed="express")
    finally:
        carrier.offers = None

    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "shipping_unavailable"
    assert refused.json()["error"]["details"] == {"offered": ["standard"]}
