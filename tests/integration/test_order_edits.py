"""POST /orders/{id}/edits over HTTP, on real PostgreSQL and the Temporal dev server (issue 16, order edits).

The worker's card simulator grants multicapture and incremental authorization (the defaults); the fallbacks
are in test_order_edit_fallbacks.py."""

import uuid

from sqlalchemy import select, update
from temporalio.api.enums.v1 import EventType

from db.tables import notifications, payment_operations, shipments
from models.workflow_ids import order as order_workflow
from tests.factories import make_location, make_sku
from tests.helpers import a_session_waits_on_a_lock, eventually
from tests.integration.checkout_helpers import ADDRESS, atp, cart_with, checkout_to_end, order_with_shipments
from tests.workflows.test_fulfillment_faults import keep_history


def edit(api, order_id, body, key=None):
    return api.post(f"/orders/{order_id}/edits", json={"reason": "customer called", **body},
                    headers={"Idempotency-Key": key or str(uuid.uuid4())})


async def _order(api, temporal_env, engine, lines: dict[str, int], stock: int = 10):
    """An order routed to its parcels; lines by a short name → quantity. Returns (order, {name: sku}, location)."""
    location = await make_location(engine)
    skus = {name: await make_sku(engine, price=1000 * (i + 1), stock={location: stock})
            for i, name in enumerate(lines)}
    done = await checkout_to_end(api, temporal_env.client,
                                 await cart_with(api, {skus[name]: q for name, q in lines.items()}))
    assert done["status"] == "completed", done
    order = await order_with_shipments(api, done["order_id"], 1)
    return order, skus, location


def _quantities(order: dict) -> dict[str, int]:
    return {line["sku"]: line["quantity"] for line in order["lines"]}


async def _open_parcels(api, order_id: str) -> list[dict]:
    order = (await api.get(f"/orders/{order_id}")).json()
    return [s for s in order["shipments"] if s["status"] != "cancelled"]


async def _ledger(engine, payment_ref: str) -> dict[str, tuple[int, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(payment_operations.c.idempotency_key, payment_operations.c.amount,
                                         payment_operations.c.status)
                                  .where(payment_operations.c.payment_ref == payment_ref))
        return {key: (amount, status) for key, amount, status in rows}


async def test_removing_a_line_releases_its_stock_lowers_the_total_replans_and_emails(api, temporal_env, engine):
    order, skus, _ = await _order(api, temporal_env, engine, {"a": 2, "b": 1})
    assert await atp(api, skus["a"]) == 8

    response = await edit(api, order["id"], {"lines": [{"sku": skus["a"], "quantity": 0}]})

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "applied" and result["previous_total"] == order["totals"]["total"]
    assert result["payment"] == {"action": "lower_capture", "amount": order["totals"]["total"] - result["total"]}
    assert await atp(api, skus["a"]) == 10  # the removed units are for sale again
    edited = (await api.get(f"/orders/{order['id']}")).json()
    assert _quantities(edited) == {skus["b"]: 1}
    assert edited["totals"]["total"] == result["total"] < order["totals"]["total"]
    parcels = await _open_parcels(api, order["id"])
    assert [p["items"] for p in parcels] == [[{"sku": skus["b"], "quantity": 1}]]
    (event,) = [e for e in edited["events"] if e["type"] == "order.edited"]
    assert event["data"]["before"]["total"] == order["totals"]["total"]
    assert event["data"]["after"]["total"] == result["total"]
    assert event["data"]["actor"] and event["data"]["reason"] == "customer called"
    audit = (await api.get(f"/orders/{order['id']}/audit")).json()
    assert any(entry["action"] == "order.edit" and entry["details"]["before"]["total"] == order["totals"]["total"]
               for entry in audit)

    async def emailed():
        async with engine.connect() as conn:
            kinds = set((await conn.execute(select(notifications.c.kind)
                                            .where(notifications.c.order_id == order["id"]))).scalars())
        return f"order_edited:{result['edit_id']}" in kinds
    assert await eventually(emailed, what="the edit email")

    # The re-planned parcel ships and captures the new, lower total.
    await api.post(f"/shipments/{parcels[0]['id']}/packed")
    assert await eventually(lambda: _captured(engine, parcels[0]["id"]), what="the capture") == result["total"]


async def _captured(engine, shipment_id):
    """What the parcel's capture took, once it succeeded (None before)."""
    async with engine.connect() as conn:
        return (await conn.execute(select(payment_operations.c.amount).where(
            payment_operations.c.idempotency_key == f"{shipment_id}:capture",
            payment_operations.c.status == "succeeded"))).scalar()


async def test_one_more_unit_raises_the_authorization_in_place(api, temporal_env, engine):
    order, skus, _ = await _order(api, temporal_env, engine, {"a": 1})
    checkout_id = (await api.get(f"/orders/{order['id']}")).json()["events"][0]["data"]["checkout_id"]

    response = await edit(api, order["id"], {"lines": [{"sku": skus["a"], "quantity": 2}]})

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["payment"]["action"] == "increase" and result["total"] > order["totals"]["total"]
    assert await atp(api, skus["a"]) == 8
    increments = {key: v for key, v in (await _ledger(engine, checkout_id)).items() if key.endswith(":increment")}
    assert increments == {f"{order['id']}:edit:{result['edit_id']}:increment":
                          (result["total"] - order["totals"]["total"], "succeeded")}
    assert _quantities((await api.get(f"/orders/{order['id']}")).json()) == {skus["a"]: 2}


async def test_a_new_sku_is_added_at_todays_price_and_a_new_address_is_kept(api, temporal_env, engine):
    order, skus, location = await _order(api, temporal_env, engine, {"a": 1})
    new_sku = await make_sku(engine, price=2500, stock={location: 3})
    address = {**ADDRESS, "line1": "9 Elm St", "city": "Oakland", "postal_code": "94607"}

    response = await edit(api, order["id"], {"lines": [{"sku": new_sku, "quantity": 2}], "shipping_address": address})

    assert response.status_code == 200, response.text
    edited = (await api.get(f"/orders/{order['id']}")).json()
    added = next(line for line in edited["lines"] if line["sku"] == new_sku)
    assert (added["quantity"], added["unit_price"]) == (2, 2500)
    assert edited["shipping_address"]["line1"] == "9 Elm St"
    assert await atp(api, new_sku) == 1
    (parcel,) = await _open_parcels(api, order["id"])
    assert sorted(i["sku"] for i in parcel["items"]) == sorted([skus["a"], new_sku])


async def test_refusals_have_their_codes(api, temporal_env, engine):
    order, skus, location = await _order(api, temporal_env, engine, {"a": 1}, stock=3)
    unknown = await edit(api, order["id"], {"lines": [{"sku": "NO-SUCH-SKU", "quantity": 1}]})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "unknown_sku")
    too_many = await edit(api, order["id"], {"lines": [{"sku": skus["a"], "quantity": 4}]})
    assert (too_many.status_code, too_many.json()["error"]["code"]) == (409, "insufficient_stock")
    assert await atp(api, skus["a"]) == 2  # nothing held by the refused edit
    handle = temporal_env.client.get_workflow_handle(order_workflow(order["id"]))
    updates_before = await _updates_in_history(handle)
    empty = await edit(api, order["id"], {})
    assert (empty.status_code, empty.json()["error"]["code"]) == (422, "invalid_edit")
    assert await _updates_in_history(handle) == updates_before  # the validator refused it: nothing entered history

    assert (await api.post(f"/orders/{order['id']}/cancel", json={"reason": "duplicate"})).status_code == 200
    cancelled = await edit(api, order["id"], {"lines": [{"sku": skus["a"], "quantity": 2}]})
    assert (cancelled.status_code, cancelled.json()["error"]["code"]) == (409, "order_cancelled")


async def _updates_in_history(handle) -> int:
    return sum(event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
               for event in (await handle.fetch_history()).events)


async def test_a_shipped_line_cannot_change_and_a_higher_total_after_capture_is_refused(api, temporal_env, engine):
    east, west = await make_location(engine, region="us-east"), await make_location(engine, region="us-west")
    a, b = await make_sku(engine, stock={west: 5}), await make_sku(engine, stock={east: 5})
    done = await checkout_to_end(api, temporal_env.client, await cart_with(api, {a: 1, b: 1}))
    order = await order_with_shipments(api, done["order_id"], 2)
    (first,) = [s for s in order["shipments"] if s["items"][0]["sku"] == a]
    await api.post(f"/shipments/{first['id']}/packed")
    await eventually(lambda: _shipped(api, order["id"], first["id"]), what="the first parcel to ship")

    shipped = await edit(api, order["id"], {"lines": [{"sku": a, "quantity": 2}]})
    assert (shipped.status_code, shipped.json()["error"]["code"]) == (409, "line_already_shipped")
    more = await edit(api, order["id"], {"lines": [{"sku": b, "quantity": 2}]})
    assert (more.status_code, more.json()["error"]["code"]) == (409, "payment_increase_not_possible")
    assert await atp(api, b) == 4  # the refused edit's hold was released


async def _shipped(api, order_id, shipment_id):
    order = (await api.get(f"/orders/{order_id}")).json()
    return any(s["id"] == shipment_id and s["shipped_at"] for s in order["shipments"])


async def test_same_key_replays_and_a_different_body_is_refused(api, temporal_env, engine):
    order, skus, _ = await _order(api, temporal_env, engine, {"a": 2})
    key = str(uuid.uuid4())
    first = await edit(api, order["id"], {"lines": [{"sku": skus["a"], "quantity": 1}]}, key=key)
    again = await edit(api, order["id"], {"lines": [{"sku": skus["a"], "quantity": 1}]}, key=key)
    other = await edit(api, order["id"], {"lines": [{"sku": skus["a"], "quantity": 3}]}, key=key)

    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert (other.status_code, other.json()["error"]["code"]) == (409, "idempotency_key_reused")
    assert await atp(api, skus["a"]) == 9


async def test_removing_every_line_is_a_cancel(api, temporal_env, engine):
    order, skus, _ = await _order(api, temporal_env, engine, {"a": 1, "b": 2})
    response = await edit(api, order["id"], {"lines": [{"sku": skus["a"], "quantity": 0},
                                                       {"sku": skus["b"], "quantity": 0}]})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert await temporal_env.client.get_workflow_handle(order_workflow(order["id"])).result() == "cancelled"
    assert (await atp(api, skus["a"]), await atp(api, skus["b"])) == (10, 10)


async def test_a_history_with_an_edit_replays(api, temporal_env, engine):
    order, skus, _ = await _order(api, temporal_env, engine, {"a": 2, "b": 1})
    assert (await edit(api, order["id"], {"lines": [{"sku": skus["a"], "quantity": 1}]})).status_code == 200
    (parcel,) = await _open_parcels(api, order["id"])
    await api.post(f"/shipments/{parcel['id']}/packed")
    await eventually(lambda: _shipped(api, order["id"], parcel["id"]), what="the re-planned parcel to ship")
    await keep_history(temporal_env, order_workflow(order["id"]), "fulfillment_edited")


async def test_an_edit_waits_out_a_capture_in_flight(api, temporal_env, engine):
    """A parcel fixed its capture share (its total read before) but has not reached the ledger yet: applying the
    edit now would let it capture the old total, so the edit is refused (and holds nothing)."""
    order, _, _ = await _order(api, temporal_env, engine, {"a": 1})
    (parcel,) = order["shipments"]
    async with engine.begin() as conn:
        await conn.execute(update(shipments).where(shipments.c.id == parcel["id"]).values(capture_amount=100))
    new_sku = await make_sku(engine, stock={await make_location(engine): 1})

    refused = await edit(api, order["id"], {"lines": [{"sku": new_sku, "quantity": 1}]})

    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "order_changed")
    assert await atp(api, new_sku) == 1


async def test_a_capture_starting_while_an_edit_commits_takes_the_edited_total(api, temporal_env, engine):
    """An edit commits its new total under the order's lock; a parcel capture starting meanwhile waits for that
    lock before reading the order, so it is fixed against the edited total (it once read the total first)."""
    import asyncio

    from activities.fulfillment import ShipmentActivities
    from db.tables import orders

    order, _, _ = await _order(api, temporal_env, engine, {"a": 1})
    (parcel,) = await _open_parcels(api, order["id"])
    edited_total = order["totals"]["total"] - 500
    async with engine.connect() as editing:
        edit_commit = await editing.begin()
        await editing.execute(select(orders.c.id).where(orders.c.id == order["id"]).with_for_update())
        await editing.execute(update(orders).where(orders.c.id == order["id"]).values(  # a 5.00 goodwill discount
            total=edited_total, discount_total=orders.c.discount_total + 500))
        capture = asyncio.create_task(ShipmentActivities(engine, None, None).prepare_capture(parcel["id"]))
        await eventually(lambda: a_session_waits_on_a_lock(engine), what="the capture waiting for the order lock")
        await edit_commit.commit()
    instruction = await capture
    assert instruction.amount == edited_total


async def test_the_console_shows_an_edit_before_and_after(api, api_app, role_keys, temporal_env, engine):
    from models.money import Money
    from tests.integration.console_helpers import signed_in

    order, skus, _ = await _order(api, temporal_env, engine, {"a": 2, "b": 1})
    response = await edit(api, order["id"], {"lines": [{"sku": skus["a"], "quantity": 1}]})
    assert response.status_code == 200, response.text
    support = await signed_in(api_app, role_keys["support"])
    page = await support.get(f"/console/orders/{order['id']}")
    assert page.status_code == 200, page.text
    shown = page.text.split('class="order-edit"', 1)[1].split("</table>", 1)[0]
    assert "customer called" in shown
    assert f"{skus['a']} × 2" in shown and f"{skus['a']} × 1" in shown
    for total in (response.json()["previous_total"], response.json()["total"]):
        assert str(Money(amount=total, currency=order["currency"])) in shown
