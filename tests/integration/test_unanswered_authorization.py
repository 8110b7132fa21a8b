"""Issue 11 item 7: a checkout gives up on an authorization whose answer never came back. It asks the provider
under the same key, releases a hold the provider did make, and settles the ledger truthfully; when the
provider still cannot tell, the ledger entry stays pending for reconciliation and the checkout says so."""

import asyncio
import os

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowHistory

from adapters.factory import Adapters
from adapters.local.email import OutboxEmailSender
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from adapters.ports import ProviderUnavailable
from api.app import create_app
from db.tables import local_card_intents, payment_operations
from tests.conftest import api_client
from tests.factories import make_api_key, make_location, make_sku
from tests.integration.checkout_helpers import atp, cart_headers, cart_with, checkout_body, start_checkout
from tests.integration.test_replay import HISTORIES, replayer


class LostAnswers:
    """The card simulator behind a network that loses every authorization's answer: the provider places
    the hold, the caller sees a timeout. ``lookup_down`` makes look-ups fail too."""

    def __init__(self, engine) -> None:
        self.inner = LocalPaymentGateway(engine=engine)
        self.name, self.lookup_down = self.inner.name, False

    async def authorize(self, **kwargs):
        await self.inner.authorize(**kwargs)
        raise ProviderUnavailable("stripe: timed out waiting for the answer")

    async def lookup(self, **kwargs):
        if self.lookup_down:
            raise ProviderUnavailable("stripe: 503")
        return await self.inner.lookup(**kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def gateway(engine) -> LostAnswers:
    return LostAnswers(engine)


@pytest.fixture(scope="module")
async def lossy_worker(temporal_env, engine, task_queue, gateway, tmp_path_factory):
    from worker import build_worker

    adapters = Adapters(payment=gateway, tax=LocalTaxCalculator(), shipping=LocalShippingCarrier(),
                        email=OutboxEmailSender(tmp_path_factory.mktemp("outbox")))
    async with build_worker(temporal_env.client, task_queue, engine, adapters) as running:
        yield running


@pytest.fixture
async def api(settings, engine, temporal_env, lossy_worker):
    """A storefront whose checkouts give the payment provider two seconds."""
    configured = settings.model_copy(update={"checkout_provider_budget_seconds": 2})
    client = api_client(create_app(configured, engine=engine, temporal=temporal_env.client),
                        await make_api_key(engine, "storefront"))
    yield client
    await client.aclose()


async def _failed_checkout(api, engine, temporal_env) -> tuple[str, str, dict]:
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    started = await start_checkout(api, checkout_body(await cart_with(api, {sku: 1})))
    checkout_id = started.json()["checkout_id"]
    result = await asyncio.wait_for(temporal_env.client.get_workflow_handle(f"checkout-{checkout_id}").result(), 60)
    assert result["status"] == "failed" and result["error"]["code"] == "checkout_unavailable", result
    assert await atp(api, sku) == 5  # the stock hold is released either way
    return checkout_id, sku, result


async def _replays(temporal_env, checkout_id: str, name: str) -> bool:
    """Today's code replays this checkout's history; ``RECORD_HISTORIES=1`` saves it (if missing) as ``name``."""
    history: WorkflowHistory = await temporal_env.client.get_workflow_handle(f"checkout-{checkout_id}").fetch_history()
    target = HISTORIES / f"{name}.json"
    if os.environ.get("RECORD_HISTORIES") == "1" and not target.exists():
        target.write_text(history.to_json())
    return (await replayer().replay_workflow(history)).replay_failure is None


async def _ledger(engine, checkout_id: str) -> list[tuple]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(payment_operations.c.kind, payment_operations.c.status)
                                  .where(payment_operations.c.payment_ref == checkout_id)
                                  .order_by(payment_operations.c.created_at))
        return [tuple(row) for row in rows]


async def _provider_hold(engine, checkout_id: str) -> str:
    async with engine.connect() as conn:
        return (await conn.execute(select(local_card_intents.c.status)
                                   .where(local_card_intents.c.reference == checkout_id))).scalar_one()


async def test_a_hold_the_provider_made_is_found_and_released(api, engine, temporal_env, gateway):
    gateway.lookup_down = False
    checkout_id, _, result = await _failed_checkout(api, engine, temporal_env)
    assert await _replays(temporal_env, checkout_id, "checkout_unanswered_authorization_released")
    assert await _provider_hold(engine, checkout_id) == "canceled"  # the card's hold is gone
    assert await _ledger(engine, checkout_id) == [("authorize", "succeeded"), ("void", "succeeded")]
    assert "hold it placed on the card was released" in result["error"]["message"]
    shown = (await api.get(f"/checkouts/{checkout_id}", headers=cart_headers(checkout_id))).json()
    assert shown["error"]["message"] == result["error"]["message"]


async def test_when_the_provider_still_cannot_tell_the_entry_stays_pending(api, engine, temporal_env, gateway):
    gateway.lookup_down = True
    try:
        checkout_id, _, result = await _failed_checkout(api, engine, temporal_env)
    finally:
        gateway.lookup_down = False
    assert await _ledger(engine, checkout_id) == [("authorize", "pending")]  # for reconciliation to settle
    assert await _provider_hold(engine, checkout_id) == "requires_capture"  # nobody pretends it is gone
    assert "will be released once it can be checked" in result["error"]["message"]
