"""Fulfillment on the real dev server: routing, split shipments, partial captures, tracking."""


from sqlalchemy import select

from db import payments as ledger
from db.tables import stock
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import (
    cart_with,
    checkout_to_end,
    delivered,
    eventually,
    order_with_shipments,
)
from workflows.shipment import ShipmentWorkflow


async def test_split_order_ships_from_two_locations_and_captures_the_total(api, temporal_env, engine):
    client = temporal_env.client
    east, west = await make_location(engine, region="us-east"), await make_location(engine, region="us-west")
    only_east = await make_sku(engine, price=3000, stock={east: 5})
    only_west = await make_sku(engine, price=1250, stock={west: 5})
    cart_id = await cart_with(api, {only_east: 1, only_west: 2})
    result = await checkout_to_end(api, client, cart_id)
    order_id = result["order_id"]

    order = await order_with_shipments(api, order_id, 2)
    by_location = {s["location_id"]: s for s in order["shipments"]}
    assert by_location[east]["items"] == [{"sku": only_east, "quantity": 1}]
    assert by_location[west]["items"] == [{"sku": only_west, "quantity": 2}]

    for shipment in order["shipments"]:
        packed = await api.post(f"/shipments/{shipment['id']}/packed")
        assert packed.status_code == 202, packed.text
        handle = client.get_workflow_handle(f"shipment-{shipment['id']}")
        # A carrier redelivers the same event: it must count once.
        for _ in range(2):
            await handle.signal(ShipmentWorkflow.tracking_update, delivered(f"trk-{shipment['id']}"))

    outcome = await client.get_workflow_handle(f"order-{order_id}").result()
    assert outcome == "delivered"

    final = (await api.get(f"/orders/{order_id}")).json()
    assert final["status"] == "fulfilled"
    captures = [s["captured"] for s in final["shipments"]]
    assert sum(captures) == final["totals"]["total"] and all(c > 0 for c in captures)
    assert [e["type"] for e in final["events"]].count("shipment.delivered") == 2
    assert all(s["tracking_code"] and s["delivered_at"] for s in final["shipments"])
    assert all(line["delivered_at"] and line["delivered_quantity"] == line["quantity"] for line in final["lines"])
    statuses = [e["to_status"] for e in final["events"] if e["type"] == "shipment.shipped"]
    assert statuses == ["partially_fulfilled", "fulfilled"]

    async with engine.connect() as conn:
        operations = await ledger.operations_for(conn, result["checkout_id"])
        levels = dict((await conn.execute(select(stock.c.sku, stock.c.on_hand)
                                           .where(stock.c.sku.in_([only_east, only_west])))).all())
    assert sorted(op.amount for op in operations if op.kind == "capture") == sorted(captures)
    assert levels == {only_east: 4, only_west: 3}, "shipping decrements on_hand"
    inventory = (await api.get(f"/inventory/{only_west}")).json()["locations"][0]
    assert inventory["reserved"] == 0


async def test_single_location_preferred_over_split(api, temporal_env, engine):
    east, west = await make_location(engine, region="us-east"), await make_location(engine, region="us-west")
    a = await make_sku(engine, stock={east: 5, west: 5})
    b = await make_sku(engine, stock={east: 5})
    cart_id = await cart_with(api, {a: 1, b: 1})
    result = await checkout_to_end(api, temporal_env.client, cart_id)
    order = await order_with_shipments(api, result["order_id"], 1)
    assert order["shipments"][0]["location_id"] == east


async def test_packing_a_shipment_twice_or_after_it_left_is_handled(api, temporal_env, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    result = await checkout_to_end(api, temporal_env.client, await cart_with(api, {sku: 1}))
    shipment = (await order_with_shipments(api, result["order_id"], 1))["shipments"][0]
    assert (await api.post(f"/shipments/{shipment['id']}/packed")).status_code == 202

    async def shipped():
        current = (await api.get(f"/orders/{result['order_id']}")).json()["shipments"][0]
        return current["status"] == "shipped"

    assert await eventually(shipped)
    again = await api.post(f"/shipments/{shipment['id']}/packed")
    assert again.status_code == 409 and again.json()["error"]["code"] == "shipment_state_conflict"
    assert (await api.post("/shipments/shp_missing/packed")).status_code == 404
