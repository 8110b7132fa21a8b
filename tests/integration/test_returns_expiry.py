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
