"""Work-queue rules without a database: who sees which queue, expiry flags, links."""

from datetime import UTC, datetime, timedelta

import pytest

from models.errors import NotFound
from models.work_queues import QUEUE_TITLES, QUEUES, check_queue, queues_for, work_item

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def test_each_role_sees_the_queues_it_can_work():
    assert queues_for("warehouse") == ["returns_to_receive", "returns_to_inspect", "parcels_to_pack",
                                       "parcel_alerts"]
    assert queues_for("support") == ["fraud_review", "returns_to_decide", "returns_needing_attention",
                                     "orders_needing_attention"]
    assert queues_for("ops") == queues_for("admin") == list(QUEUES)
    assert queues_for("storefront") == queues_for("catalog") == []


def test_every_queue_has_a_title_for_the_console():
    assert QUEUE_TITLES.keys() == QUEUES.keys()


def test_a_queue_the_role_may_not_work_does_not_exist_for_it():
    check_queue("parcels_to_pack", "warehouse")
    for queue, role in (("fraud_review", "warehouse"), ("no_such_queue", "admin")):
        with pytest.raises(NotFound) as missing:
            check_queue(queue, role)
        assert missing.value.code == "queue_not_found"


@pytest.mark.parametrize(("waited", "expiring_soon"), [(timedelta(hours=17), False), (timedelta(hours=19), True),
                                                       (timedelta(hours=30), True)])
def test_fraud_reviews_are_flagged_before_they_time_out(waited, expiring_soon):
    row = {"id": "chk_1", "since": NOW - waited, "order_id": None, "workflow_id": "checkout-chk_1",
           "details": {"score": 70, "reasons": ["velocity"], "total": 5000, "currency": "USD"}}
    item = work_item("fraud_review", row, now=NOW, lifetime=timedelta(days=1), warn_within=timedelta(hours=6),
                     ui_base="http://ui:8233/", namespace="default")
    assert item.expires_at == NOW - waited + timedelta(days=1)
    assert item.expiring_soon is expiring_soon
    assert item.workflow_url == "http://ui:8233/namespaces/default/workflows/checkout-chk_1"
    assert (item.url, item.order_url) == ("/checkouts/chk_1", None)
    assert "70" in item.summary and "velocity" in item.summary


def test_items_that_never_time_out_carry_no_expiry_and_link_their_order():
    row = {"id": "shp_1", "since": NOW, "order_id": "ord_1", "workflow_id": "shipment-shp_1",
           "details": {"location": "east", "units": 3}}
    item = work_item("parcels_to_pack", row, now=NOW, lifetime=None, warn_within=timedelta(hours=6),
                     ui_base="http://ui", namespace="prod ns")
    assert (item.expires_at, item.expiring_soon) == (None, False)
    assert (item.order_url, item.url) == ("/orders/ord_1", "/orders/ord_1")
    assert item.workflow_url == "http://ui/namespaces/prod%20ns/workflows/shipment-shp_1"


def test_the_digest_email_groups_items_by_kind_and_keys_its_message_by_digest():
    from models.ops_alerts import AlertItem, digest_email

    items = [AlertItem(kind="low_stock", key="lsa_1", summary="TEE: 2 available, reorder point 5", since=NOW),
             AlertItem(kind="parcel_alert", key="shp_1:ship_failed:x", summary="parcel shp_1: ship_failed:x",
                       since=NOW - timedelta(hours=1))]
    message = digest_email("ops@example.com", "ops-alert-digest-2026", items)
    assert message.idempotency_key == "ops:ops-alert-digest-2026"
    assert message.subject == "orderflow ops alerts: 1 parcel alerts, 1 low stock"
    assert message.text.index("Parcel alerts (1):") < message.text.index("Low stock (1):")
    assert "Fraud reviews" not in message.text
