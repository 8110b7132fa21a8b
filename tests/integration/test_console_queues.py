"""Every work queue's action from the console, by the narrowest role that does it: a support clerk decides a fraud
hold and return requests and resolves an order's alerts; a packer receives and inspects returns (per unit), prints
pick lists and packing slips and marks parcels packed, and retries a carrier.

This module's fraud thresholds make a foreign billing address alone a review (as tests/integration/
test_fraud_review.py does), so a real checkout waits for the console's decision."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from config import Settings
from db import orders as order_store
from db.tables import shipments
from tests.helpers import eventually
from tests.integration.checkout_helpers import delivered_order, finished_checkout, order_with_shipments, placed_order
from tests.integration.console_helpers import (
    act, audit_actions, flash_of, fraud_review_settings, held_checkout, signed_in,
)
from tests.integration.ops_helpers import make_fraud_hold

@pytest.fixture(scope="module")
def settings(database_url, task_queue) -> Settings:
    return fraud_review_settings(database_url, task_queue)


@pytest.fixture(scope="module")
async def support(api_app, role_keys):
    return await signed_in(api_app, role_keys["support"])


@pytest.fixture(scope="module")
async def packer(api_app, role_keys):
    return await signed_in(api_app, role_keys["warehouse"])


async def test_home_counts_each_queue_with_its_oldest_age_and_flags_what_expires_soon(support, engine):
    await make_fraud_hold(engine, timedelta(hours=21))  # a one-day review: 3 h left, within the 6 h warning
    home = await support.get("/console")
    row = re.search(r'<tr data-queue="fraud_review">(.*?)</tr>', home.text, re.S).group(1)
    count = int(re.search(r'<td class="num">(\d+)</td>', row).group(1))
    assert count >= 1 and "21 h" in row and "expiring soon" in row, row
    assert 'data-queue="parcels_to_pack"' not in home.text  # a packer's queue


async def test_a_clerk_approves_a_fraud_hold_with_a_note_and_the_checkout_completes(
        support, api, temporal_env, engine):
    checkout_id = await held_checkout(api, engine)
    queue = "/console/queues/fraud_review"
    page = await support.get(queue)
    assert f'action="/console/checkouts/{checkout_id}/review"' in page.text
    assert re.search(r"\d+\.\d\d USD, score \d+ \(billing_shipping_mismatch\)", page.text)  # money, not minor units

    decided = await act(support, f"/console/checkouts/{checkout_id}/review", queue, decision="approve",
                        note="called the customer", back=queue)
    assert flash_of(decided) == f"Checkout {checkout_id} approved.", flash_of(decided)

    async def gone():  # the workflow records the decision a moment after the update returns
        return await _listed(support, queue, checkout_id) is None

    await eventually(gone, what="the checkout to leave the fraud review queue")
    done = await finished_checkout(api, temporal_env.client, checkout_id)
    assert done["status"] == "completed"
    assert ("checkout.fraud_approve", "support") in await audit_actions(engine, done["order_id"])

    again = await act(support, f"/console/checkouts/{checkout_id}/review", queue, decision="reject", back=queue)
    assert "[checkout_not_in_review]" in flash_of(again)


async def test_a_return_is_requested_decided_received_and_inspected_per_unit(
        support, packer, api, temporal_env, engine):
    done, (sku,) = await delivered_order(api, temporal_env, engine, {2000: 2})
    order_id, order_page = done["order_id"], f"/console/orders/{done['order_id']}"
    requested = await act(support, f"{order_page}/returns", order_page, **{
        f"qty:{sku}": "2", f"reason:{sku}": "defective", "return_key": "phone-call-1"})
    rma_id = re.search(r"Return (rma_\w+) requested", flash_of(requested)).group(1)
    assert ("return.request", "support") in await audit_actions(engine, order_id)  # the clerk who asked
    again = await act(support, f"{order_page}/returns", order_page, **{
        f"qty:{sku}": "2", f"reason:{sku}": "defective", "return_key": "phone-call-1"})
    assert flash_of(again) == flash_of(requested)  # the same form again: the same return, audited once
    assert (await audit_actions(engine, order_id)).count(("return.request", "support")) == 1

    decide = "/console/queues/returns_to_decide"
    approved = await act(support, f"/console/returns/{rma_id}/approve", decide, note="photo shows it", back=decide)
    assert flash_of(approved) == f"Return {rma_id} approved."
    assert (await packer.get(decide)).status_code == 404  # not a packer's queue: it does not exist for them

    receive = "/console/queues/returns_to_receive"
    received = await eventually(lambda: _listed(packer, receive, rma_id), what="the return to wait for the parcel")
    assert f'action="/console/returns/{rma_id}/receive"' in received
    answer = await act(packer, f"/console/returns/{rma_id}/receive", receive, back=receive)
    assert flash_of(answer) == f"Return {rma_id} received."

    inspect = "/console/queues/returns_to_inspect"
    form = await eventually(lambda: _listed(packer, inspect, rma_id), what="the return to wait for inspection")
    assert form.count('_disposition"') == 2  # one row per unit
    location = re.search(r'name="unit0_location"[^>]*>\s*<option value="([^"]+)"', form).group(1)
    inspected = await act(packer, f"/console/returns/{rma_id}/inspect", inspect, back=inspect, note="one scuffed",
                          unit0_sku=sku, unit0_disposition="resell", unit0_accepted="yes", unit0_location=location,
                          unit1_sku=sku, unit1_disposition="scrap")
    assert flash_of(inspected) == f"Return {rma_id} inspected.", flash_of(inspected)

    async def refunded():
        answer = (await api.get(f"/returns/{rma_id}")).json()
        return answer if answer["status"] == "refunded" else None

    finished = await eventually(refunded, what="the return to be refunded")
    assert sorted((u["disposition"], u["accepted"]) for u in finished["inspection"]) == [
        ("resell", True), ("scrap", False)]
    assert [a for a in await audit_actions(engine, order_id) if a[0].startswith("return.")] == [
        ("return.request", "support"), ("return.approve", "support"), ("return.receive", "warehouse"),
        ("return.inspect", "warehouse")]


async def _listed(client, queue: str, item_id: str) -> str | None:
    page = await client.get(queue)
    return page.text if f'data-item="{item_id}"' in page.text else None


async def test_a_packer_prints_the_pick_list_and_packing_slip_and_marks_the_parcel_packed(
        packer, api, temporal_env, engine):
    done, (sku,) = await placed_order(api, temporal_env, engine)
    shipment = (await order_with_shipments(api, done["order_id"], 1))["shipments"][0]
    queue = "/console/queues/parcels_to_pack"
    page = await packer.get(queue)
    assert f'data-item="{shipment["id"]}"' in page.text
    pick_link = re.search(r'href="(/console/pick-list\.pdf\?location=[^"]+)"', page.text).group(1)

    pick_list = await packer.get(pick_link.replace("&amp;", "&"))
    slip = await packer.get(f"/console/shipments/{shipment['id']}/packing-slip.pdf")
    for pdf in (pick_list, slip):
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")

    async def pack_once_started():  # the shipment's row exists a moment before its workflow
        answer = await act(packer, f"/console/shipments/{shipment['id']}/packed", queue, back=queue)
        return None if "[shipment_not_ready]" in flash_of(answer) else answer

    packed = await eventually(pack_once_started, what="the shipment workflow to start")
    assert flash_of(packed) == f"Parcel {shipment['id']}: marked packed: the label is being bought.", flash_of(packed)

    async def shipped():
        order = (await api.get(f"/orders/{done['order_id']}")).json()
        return order["shipments"][0]["status"] != "pending_pack"

    await eventually(shipped, what="the parcel to leave pending_pack")
    assert ("shipment.packed", "warehouse") in await audit_actions(engine, done["order_id"])


async def test_a_packer_retries_the_carrier_of_an_alerted_parcel(packer, api, temporal_env, engine):
    done, _ = await placed_order(api, temporal_env, engine)
    shipment_id = (await order_with_shipments(api, done["order_id"], 1))["shipments"][0]["id"]
    async with engine.begin() as conn:  # what the shipment workflow records when the carrier is down
        await conn.execute(update(shipments).where(shipments.c.id == shipment_id).values(alert="carrier_unavailable"))
    queue = "/console/queues/parcel_alerts"
    page = await packer.get(queue)
    assert "carrier_unavailable" in page.text and f'/console/shipments/{shipment_id}/retry-carrier' in page.text

    async def retry_once_started():
        answer = await act(packer, f"/console/shipments/{shipment_id}/retry-carrier", queue, back=queue)
        return None if "[shipment_not_ready]" in flash_of(answer) else answer

    retried = await eventually(retry_once_started, what="the shipment workflow to start")
    assert flash_of(retried) == f"Parcel {shipment_id}: its stuck step is being retried."
    assert ("shipment.retry_carrier", "warehouse") in await audit_actions(engine, done["order_id"])


async def test_a_clerk_sees_why_an_order_needs_attention_and_resolves_it(support, api, temporal_env, engine):
    done, _ = await placed_order(api, temporal_env, engine)
    order_id = done["order_id"]
    async with engine.begin() as conn:
        await order_store.append_event(conn, order_id, f"{order_id}:alert:cancel_incomplete:void", "order.alert",
                                       data={"alert": "cancel_incomplete:void"})
    queue = "/console/queues/orders_needing_attention"
    row = re.search(rf'<tr id="{order_id}".*?</tr>', (await support.get(queue)).text, re.S).group(0)
    assert "cancel_incomplete:void" in row and f'href="/console/orders/{order_id}"' in row

    order_page = await support.get(f"/console/orders/{order_id}")
    attention = re.search(r'<section id="attention">(.*?)</section>', order_page.text, re.S).group(1)
    assert "cancel_incomplete:void" in attention and "/alerts/resolve" in attention

    resolved = await act(support, f"/console/orders/{order_id}/alerts/resolve", queue, note="voided by hand",
                         back=queue)
    assert flash_of(resolved) == f"Order {order_id}: alerts marked resolved."
    assert f'id="{order_id}"' not in resolved.text
    assert ("order.alerts_resolved", "support") in await audit_actions(engine, order_id)
    assert 'id="attention"' not in (await support.get(f"/console/orders/{order_id}")).text
