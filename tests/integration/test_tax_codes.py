"""Tax codes per product, overridden per variant: set by the catalog admin, carried from the cart through the
quote and the order to the parcel's tax commit (the Avalara adapter sends them: tests/providers)."""

import uuid

from sqlalchemy import select

from activities.fulfillment import _shipment_cart
from db import carts, fulfillment, inventory
from db.tables import order_lines
from models.fulfillment import FulfillmentPolicy
from tests.factories import make_location
from tests.integration.checkout_helpers import cart_with, checkout_to_end


async def product_with_codes(api, engine) -> tuple[str, str]:
    """A clothing product (PC040100) with a plain variant and one taxed as an accessory (PC040200)."""
    tag = uuid.uuid4().hex[:8].upper()
    plain, accessory = f"TEE-{tag}", f"BELT-{tag}"
    created = await api.post("/admin/catalog/products", json={
        "handle": f"coded-{tag.lower()}", "title": "Coded", "status": "active", "tax_code": "PC040100",
        "variants": [{"sku": plain, "title": "Tee", "prices": [{"currency": "USD", "amount": 2000}]},
                     {"sku": accessory, "title": "Belt", "tax_code": "PC040200",
                      "prices": [{"currency": "USD", "amount": 1000}]}]})
    assert created.status_code == 201, created.text
    assert created.json()["tax_code"] == "PC040100"
    assert {v["sku"]: v["tax_code"] for v in created.json()["variants"]} == {plain: None, accessory: "PC040200"}
    location = await make_location(engine)
    async with engine.begin() as conn:
        for sku in (plain, accessory):
            await inventory.set_stock(conn, sku, location, on_hand=5, reason="test")
    return plain, accessory


async def test_codes_travel_from_the_catalog_to_the_parcel(api, temporal_env, engine):
    plain, accessory = await product_with_codes(api, engine)

    done = await checkout_to_end(api, temporal_env.client, await cart_with(api, {plain: 1, accessory: 1}))

    assert done["status"] == "completed", done
    async with engine.connect() as conn:
        stored = dict((await conn.execute(select(order_lines.c.sku, order_lines.c.tax_code)
                                          .where(order_lines.c.order_id == done["order_id"]))).tuples().all())
        order = await fulfillment.snapshot(conn, done["order_id"], FulfillmentPolicy())
    assert stored == {plain: "PC040100", accessory: "PC040200"}
    parcel = _shipment_cart(order, {plain: 1, accessory: 1})
    assert {line.sku: line.tax_code for line in parcel.lines} == stored, "the tax commit sends what was quoted"


async def test_a_variant_without_its_own_code_takes_the_products(api, engine):
    plain, accessory = await product_with_codes(api, engine)

    cleared = await api.patch(f"/admin/catalog/variants/{accessory}", json={"tax_code": None})
    assert cleared.status_code == 200 and cleared.json()["tax_code"] is None
    refused = await api.patch(f"/admin/catalog/variants/{accessory}", json={"tax_code": "PC 0402"})
    assert refused.status_code == 422

    cart_id = await cart_with(api, {accessory: 1})
    async with engine.connect() as conn:
        _, snapshot = await carts.get_cart(conn, cart_id)
    assert [line.tax_code for line in snapshot.lines] == ["PC040100"]
