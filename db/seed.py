"""Demo catalog: a few products with variants, USD/EUR prices and stock in two locations."""

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db import inventory
from db.tables import locations, prices, products, variants
from models.ids import public_id

LOCATIONS = [
    {"code": "us-east", "name": "Newark DC", "region": "us-east", "country": "US"},
    {"code": "us-west", "name": "Reno DC", "region": "us-west", "country": "US"},
]

# Total ATP at which a low-stock alert opens; below the first location's stock so seeding raises none.
REORDER_POINTS = {"TEE-BLK-M": 10, "TEE-BLK-L": 8, "MUG-ENAMEL": 5, "BOOK-FIELD": 3}

# handle, title, category, [(sku, variant title, options, gtin, grams, usd, eur, {location: on_hand})]
PRODUCTS = [
    ("classic-tee", "Classic Tee", "apparel", [
        ("TEE-BLK-M", "Classic Tee — Black / M", {"color": "black", "size": "M"}, "4006381333931", 180, 2500, 2300,
         {"us-east": 40, "us-west": 25}),
        ("TEE-BLK-L", "Classic Tee — Black / L", {"color": "black", "size": "L"}, "0012345678905", 190, 2500, 2300,
         {"us-east": 30, "us-west": 0}),
    ]),
    ("trail-mug", "Trail Mug", "kitchen", [
        ("MUG-ENAMEL", "Trail Mug — Enamel", {"material": "enamel"}, "5901234123457", 350, 1800, 1700,
         {"us-east": 12, "us-west": 8}),
    ]),
    ("field-notes", "Field Notes Book", "books", [
        ("BOOK-FIELD", "Field Notes Book", {}, "9780306406157", 420, 3200, 2900, {"us-east": 5, "us-west": 3}),
    ]),
]


async def seed_demo_catalog(conn: AsyncConnection) -> bool:
    """Insert the demo data once; returns False when it is already there."""
    if (await conn.execute(select(products.c.id).where(products.c.handle == "classic-tee"))).first():
        return False
    location_ids = {}
    for loc in LOCATIONS:
        location_ids[loc["code"]] = public_id("location")
        await conn.execute(insert(locations).values(id=location_ids[loc["code"]], **loc))
    for handle, title, category, variant_rows in PRODUCTS:
        product_id = public_id("product")
        await conn.execute(products.insert().values(id=product_id, handle=handle, title=title, category=category,
                                                    status="active"))
        for sku, vtitle, options, gtin, grams, usd, eur, stock_by_location in variant_rows:
            variant_id = public_id("variant")
            await conn.execute(variants.insert().values(
                id=variant_id, product_id=product_id, sku=sku, title=vtitle, options=options,
                gtin=gtin, isbn=gtin if category == "books" else None, weight_grams=grams, status="active",
                reorder_point=REORDER_POINTS.get(sku, 0)))
            await conn.execute(prices.insert().values(variant_id=variant_id, currency="USD", amount=usd))
            await conn.execute(prices.insert().values(variant_id=variant_id, currency="EUR", amount=eur))
            for code, on_hand in stock_by_location.items():
                await inventory.set_stock(conn, sku, location_ids[code], on_hand=on_hand, safety_stock=0,
                                          reason="seed")
    return True
