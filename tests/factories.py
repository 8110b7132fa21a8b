"""Small builders for catalog and stock rows used across integration tests."""

import uuid

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from db import inventory
from db.api_keys import create_key
from db.tables import locations, prices, products, variants
from models.auth import CLI_CALLER
from models.ids import public_id


async def make_location(engine: AsyncEngine, code: str | None = None, region: str = "us-east") -> str:
    location_id = public_id("location")
    async with engine.begin() as conn:
        await conn.execute(insert(locations).values(
            id=location_id, code=code or f"loc-{uuid.uuid4().hex[:8]}", name="Test DC", region=region, country="US"))
    return location_id


async def make_sku(engine: AsyncEngine, *, price: int = 1000, currency: str = "USD",
                   stock: dict[str, int] | None = None, weight_grams: int = 200, status: str = "active",
                   safety_stock: int = 0) -> str:
    """An active product with one variant, one price and optional stock per location id."""
    sku = f"SKU-{uuid.uuid4().hex[:10].upper()}"
    product_id, variant_id = public_id("product"), public_id("variant")
    async with engine.begin() as conn:
        await conn.execute(products.insert().values(id=product_id, handle=sku.lower(), title=f"Product {sku}",
                                                    status="active"))
        await conn.execute(variants.insert().values(id=variant_id, product_id=product_id, sku=sku, title=f"Item {sku}",
                                                    weight_grams=weight_grams, status=status))
        await conn.execute(prices.insert().values(variant_id=variant_id, currency=currency, amount=price))
        for location_id, on_hand in (stock or {}).items():
            await inventory.set_stock(conn, sku, location_id, on_hand=on_hand, safety_stock=safety_stock,
                                      reason="test")
    return sku


async def make_api_key(engine: AsyncEngine, role: str = "admin", name: str | None = None) -> str:
    """A live API key with ``role``; returns its secret."""
    async with engine.begin() as conn:
        _, secret = await create_key(conn, name=name or f"test {role}", role=role, actor=CLI_CALLER)
    return secret


async def make_subscription_plan(engine: AsyncEngine, *, discount_bp: int = 1000, active: bool = True,
                                 intervals: tuple[str, ...] = ("weekly", "monthly", "every_n_days")) -> str:
    """An admin-defined subscription plan (the only source of a subscription's discount)."""
    from db import subscription_plans

    async with engine.begin() as conn:
        plan = await subscription_plans.create(conn, name=f"Plan {uuid.uuid4().hex[:8]}", intervals=list(intervals),
                                               discount_bp=discount_bp, active=active)
    return plan.id
