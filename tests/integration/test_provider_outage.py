"""The payment provider goes down: checkouts wait and retry, then complete when it is back; with a short
budget (CHECKOUT_PROVIDER_BUDGET_SECONDS) they fail ``checkout_unavailable`` and undo everything."""

import asyncio

import pytest
from sqlalchemy import func, select

from adapters.factory import Adapters
from adapters.local.email import OutboxEmailSender
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from adapters.ports import ProviderUnavailable
from api.app import create_app
from db.tables import carts, orders, payment_operations, reservations
from tests.conftest import api_client
from tests.factories import make_api_key, make_location, make_sku
from tests.helpers import eventually
from tests.integration.checkout_helpers import atp, cart_headers, cart_with, checkout_body, start_checkout


class SwitchableGateway:
    """The local card simulator behind a switch at the provider edge: while down, every authorization
    attempt fails as a real adapter does on a 5xx or a timeout (``ProviderUnavailable``)."""

    def __init__(self) -> None:
        self.inner, self.down, self.refused = LocalPaymentGateway(), False, 0
        self.name = self.inner.name

    async def authorize(self, **kwargs):
        if self.down:
            self.refused += 1
            raise ProviderUnavailable("payment provider answered 503")
        return await self.inner.authorize(**kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def gateway() -> SwitchableGateway:
    return SwitchableGateway()


@pytest.fixture(scope="module")
async def outage_worker(temporal_env, engine, task_queue, gateway, tmp_path_factory):
    from worker import build_worker

    adapters = Adapters(payment=gateway, tax=LocalTaxCalculator(), shipping=LocalShippingCarrier(),
                        email=OutboxEmailSender(tmp_path_factory.mktemp("outbox")))
    async with build_worker(temporal_env.client, task_queue, engine, adapters) as running:
        yield running


@pytest.fixture(scope="module")
async def storefront_key(engine) -> str:
    return await make_api_key(engine, "storefront")


@pytest.fixture
async def api_with_budget(settings, engine, temporal_env, outage_worker, storefront_key):
    """``api_with_budget(seconds)``: a storefront client of an app whose checkouts get that provider budget."""
    clients = []

    def build(budget: float | None = None):
        configured = settings if budget is None else settings.model_copy(
            update={"checkout_provider_budget_seconds": budget})
        clients.append(api_client(create_app(configured, engine=engine, temporal=temporal_env.client),
                                  storefront_key))
        return clients[-1]

    yield build
    for client in clients:
        await client.aclose()


@pytest.fixture
def outage(gateway):
    gateway.down, gateway.refused = True, 0
    yield gateway
    gateway.down = False


async def _scalar(engine, query) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(query)).scalar_one()


async def test_checkout_waits_out_an_outage_and_completes(api_with_budget, engine, temporal_env, outage):
    api = api_with_budget()
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    started = await start_checkout(api, checkout_body(await cart_with(api, {sku: 1})))
    checkout_id = started.json()["checkout_id"]
    await eventually(lambda: outage.refused >= 3, 20, what="three refused authorization attempts")
    assert (await api.get(f"/checkouts/{checkout_id}", headers=cart_headers(checkout_id))).json()["status"] == "pending"

    outage.down = False  # the provider is back
    result = await asyncio.wait_for(temporal_env.client.get_workflow_handle(f"checkout-{checkout_id}").result(), 30)
    assert result["status"] == "completed", result
    shown = await api.get(f"/checkouts/{checkout_id}", headers=cart_headers(checkout_id))
    assert shown.json()["status"] == "completed"
    succeeded = select(func.count()).select_from(payment_operations).where(
        payment_operations.c.payment_ref == checkout_id, payment_operations.c.status == "succeeded")
    assert await _scalar(engine, succeeded) == 1
    assert await atp(api, sku) == 4


async def test_outage_past_the_budget_fails_and_compensates(api_with_budget, engine, temporal_env, outage):
    api = api_with_budget(budget=2)
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    cart_id = await cart_with(api, {sku: 2})
    started = await start_checkout(api, checkout_body(cart_id))
    checkout_id = started.json()["checkout_id"]
    result = await asyncio.wait_for(temporal_env.client.get_workflow_handle(f"checkout-{checkout_id}").result(), 30)
    assert result["status"] == "failed" and result["error"]["code"] == "checkout_unavailable", result
    assert outage.refused >= 2  # it did retry within the budget

    shown = (await api.get(f"/checkouts/{checkout_id}", headers=cart_headers(checkout_id))).json()
    assert shown["status"] == "failed" and shown["error"]["code"] == "checkout_unavailable"
    assert await atp(api, sku) == 5  # stock released
    assert await _scalar(engine, select(func.count()).select_from(reservations).where(
        reservations.c.reservation_key == checkout_id, reservations.c.status != "released")) == 0
    assert await _scalar(engine, select(func.count()).select_from(orders).where(
        orders.c.checkout_id == checkout_id)) == 0
    assert await _scalar(engine, select(carts.c.status).where(carts.c.id == cart_id)) == "open"  # cart reopened
    async with engine.connect() as conn:  # the unanswered authorization is closed, not left pending
        ledger = (await conn.execute(select(payment_operations.c.kind, payment_operations.c.status,
                                            payment_operations.c.error_code)
                                     .where(payment_operations.c.payment_ref == checkout_id))).all()
    assert [tuple(row) for row in ledger] == [("authorize", "failed", "provider_unavailable")]

    outage.down = False  # the shopper tries again once the provider is back: a new checkout goes through
    retry = await start_checkout(api_with_budget(), checkout_body(cart_id))
    result = await asyncio.wait_for(
        temporal_env.client.get_workflow_handle(f"checkout-{retry.json()['checkout_id']}").result(), 30)
    assert result["status"] == "completed", result
