"""An approved return whose parcel is never sent back expires and its label is refunded."""

import pytest

from config import Settings
from tests.integration.checkout_helpers import delivered_order

SHIP_BACK_SECONDS = 1


@pytest.fixture(scope="module")
def settings(database_url, task_queue) -> Settings:
    return Settings(environment="test", database_url=database_url, task_queue=task_queue,
                    return_ship_back_days=SHIP_BACK_SECONDS / 86400)


async def test_approved_return_never_shipped_back_expires(api, temporal_env, engine):
    done, (sku,) = await delivered_order(api, temporal_env, engine)
    rma = (await api.post(f"/orders/{done['order_id']}/returns",
                          json={"lines": [{"sku": sku, "quantity": 1, "reason": "other"}]})).json()
    assert (await api.post(f"/returns/{rma['id']}/approve", json={})).status_code == 200

    assert await temporal_env.client.get_workflow_handle(f"return-{rma['id']}").result() == "expired"

    final = (await api.get(f"/returns/{rma['id']}")).json()
    assert final["status"] == "expired" and final["label"] is not None
    assert (await api.get(f"/orders/{done['order_id']}")).json()["status"] == "fulfilled"
    late = await api.post(f"/returns/{rma['id']}/receive")
    assert late.status_code == 409


async def test_an_expired_exchange_gives_its_held_variant_back(api, temporal_env, engine):
    from sqlalchemy import select

    from db.tables import reservations
    from tests.integration.checkout_helpers import atp
    from tests.integration.test_exchanges import variant_of

    done, (sku,) = await delivered_order(api, temporal_env, engine)
    larger = await variant_of(engine, sku, price=2600)
    on_sale = await atp(api, larger)
    rma = (await api.post(f"/orders/{done['order_id']}/returns", json={"lines": [
        {"sku": sku, "quantity": 1, "reason": "size_fit", "exchange_sku": larger}]})).json()
    assert (await api.post(f"/returns/{rma['id']}/approve", json={})).status_code == 200

    assert await temporal_env.client.get_workflow_handle(f"return-{rma['id']}").result() == "expired"
    async with engine.connect() as conn:
        held = (await conn.execute(select(reservations.c.sku, reservations.c.quantity, reservations.c.status)
                                   .where(reservations.c.reservation_key == f"{rma['id']}:exchange-hold"))).all()
    assert [tuple(row) for row in held] == [(larger, 1, "released")], "held at approval, given back at expiry"
    assert await atp(api, larger) == on_sale
