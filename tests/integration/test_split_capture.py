"""Issue 11 item 1: split orders against a card processor as strict as Stripe (one capture per intent unless
multicapture was granted), and an order view that shows what the ledger says was captured."""

import pytest
from sqlalchemy import select

from adapters.factory import Adapters
from adapters.local.email import OutboxEmailSender
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from api.app import create_app
from db import payments as ledger
from db.tables import local_card_intents
from models.errors import DomainError
from tests.conftest import api_client
from tests.factories import make_api_key, make_location, make_sku
from tests.integration.checkout_helpers import cart_with, checkout_to_end, delivered, order_with_shipments
from workflows.shipment import ShipmentWorkflow


class StrictCards(LocalPaymentGateway):
    """The PostgreSQL-backed simulator; ``refuse_captures`` makes the provider refuse every capture."""

    refuse_captures = False

    async def capture(self, **kwargs):
        if self.refuse_captures:
            raise DomainError("Your card's issuer refused the capture", code="payment_invalid_request")
        return await super().capture(**kwargs)


@pytest.fixture(scope="module")
def cards(engine) -> StrictCards:
    return StrictCards(engine=engine, request_multicapture=True)


@pytest.fixture(scope="module")
async def strict_worker(temporal_env, engine, task_queue, cards, tmp_path_factory):
    from worker import build_worker

    adapters = Adapters(payment=cards, tax=LocalTaxCalculator(), shipping=LocalShippingCarrier(),
                        email=OutboxEmailSender(tmp_path_factory.mktemp("outbox")))
    async with build_worker(temporal_env.client, task_queue, engine, adapters) as running:
        yield running


@pytest.fixture
async def api(settings, engine, temporal_env, strict_worker):
    client = api_client(create_app(settings, engine=engine, temporal=temporal_env.client),
                        await make_api_key(engine, "admin"))
    yield client
    await client.aclose()


async def _two_parcel_order(api, engine, temporal_env) -> tuple[dict, dict]:
    east, west = await make_location(engine, region="us-east"), await make_location(engine, region="us-west")
    only_east = await make_sku(engine, price=2300, stock={east: 5})
    only_west = await make_sku(engine, price=1450, stock={west: 5})
    result = await checkout_to_end(api, temporal_env.client, await cart_with(api, {only_east: 1, only_west: 2}))
    assert result["status"] == "completed", result
    return result, await order_with_shipments(api, result["order_id"], 2)


async def _ship(api, temporal_env, shipment_id: str) -> str:
    assert (await api.post(f"/shipments/{shipment_id}/packed")).status_code == 202
    handle = temporal_env.client.get_workflow_handle(f"shipment-{shipment_id}")
    await handle.signal(ShipmentWorkflow.tracking_update, delivered(f"trk-{shipment_id}"))
    return await handle.result()


async def _ledger_captures(engine, payment_ref: str) -> list[tuple[int, str]]:
    async with engine.connect() as conn:
        return [(op.amount, op.status) for op in await ledger.operations_for(conn, payment_ref) if op.kind == "capture"]


async def _intent(engine, payment_ref: str):
    async with engine.connect() as conn:
        return (await conn.execute(select(local_card_intents)
                                   .where(local_card_intents.c.reference == payment_ref))).one()


async def test_without_multicapture_the_first_parcel_captures_the_whole_order(api, engine, temporal_env, cards):
    cards.multicapture_available = False  # the card network does not grant multicapture (no IC+ account)
    result, order = await _two_parcel_order(api, engine, temporal_env)
    total = order["totals"]["total"]
    first, second = order["shipments"]
    assert await _ship(api, temporal_env, first["id"]) == "delivered"
    assert await _ship(api, temporal_env, second["id"]) == "delivered"

    assert await _ledger_captures(engine, result["checkout_id"]) == [(total, "succeeded")]
    intent = await _intent(engine, result["checkout_id"])
    assert (intent.status, intent.amount_captured, intent.multicapture_available) == ("succeeded", total, False)
    final = (await api.get(f"/orders/{result['order_id']}")).json()
    assert final["status"] == "fulfilled"
    assert [s["captured"] for s in final["shipments"]] == [total, 0]


async def test_with_multicapture_each_parcel_captures_its_share(api, engine, temporal_env, cards):
    cards.multicapture_available = True
    result, order = await _two_parcel_order(api, engine, temporal_env)
    total = order["totals"]["total"]
    for shipment in order["shipments"]:
        assert await _ship(api, temporal_env, shipment["id"]) == "delivered"

    captures = await _ledger_captures(engine, result["checkout_id"])
    assert len(captures) == 2 and all(status == "succeeded" for _, status in captures)
    assert sum(amount for amount, _ in captures) == total
    intent = await _intent(engine, result["checkout_id"])
    assert (intent.status, intent.amount_captured, intent.captures) == ("succeeded", total, 2)
    final = (await api.get(f"/orders/{result['order_id']}")).json()
    assert sorted(s["captured"] for s in final["shipments"]) == sorted(amount for amount, _ in captures)


async def test_the_order_shows_only_what_the_ledger_captured(api, engine, temporal_env, cards):
    cards.multicapture_available = True
    result, order = await _two_parcel_order(api, engine, temporal_env)
    first, second = order["shipments"]
    assert await _ship(api, temporal_env, first["id"]) == "delivered"
    cards.refuse_captures = True
    try:
        assert (await api.post(f"/shipments/{second['id']}/packed")).status_code == 202
        outcome = await temporal_env.client.get_workflow_handle(f"shipment-{second['id']}").result()
    finally:
        cards.refuse_captures = False
    assert outcome == "capture_failed"

    captures = await _ledger_captures(engine, result["checkout_id"])
    assert [status for _, status in captures] == ["succeeded", "failed"]
    shown = {s["id"]: s["captured"] for s in (await api.get(f"/orders/{result['order_id']}")).json()["shipments"]}
    assert shown == {first["id"]: captures[0][0], second["id"]: 0}
