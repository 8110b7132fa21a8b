"""Catalog reads the checkout path depends on (sellable variants and their prices)."""

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import prices, products, variants
from models.errors import DomainError, NotFound


async def sellable_price(conn: AsyncConnection, sku: str, currency: str) -> int:
    """Current unit price of an active variant of an active product, or a clear error."""
    row = (
        await conn.execute(
            select(variants.c.id, variants.c.status, products.c.status.label("product_status"), prices.c.amount)
            .join(products, products.c.id == variants.c.product_id)
            .outerjoin(prices, and_(prices.c.variant_id == variants.c.id, prices.c.currency == currency))
            .where(variants.c.sku == sku)
        )
    ).first()
    if row is None:
        raise NotFound(f"unknown SKU {sku!r}", code="unknown_sku")
    if row.status != "active" or row.product_status != "active":
        raise DomainError(f"SKU {sku!r} is not for sale", code="sku_not_sellable")
    if row.amount is None:
        raise DomainError(f"SKU {sku!r} has no {currency} price", code="price_not_found")
    return row.amount


async def current_prices(conn: AsyncConnection, skus: list[str], currency: str) -> dict[str, int]:
    """Prices of the sellable SKUs among ``skus``; missing ones are not for sale now."""
    rows = await conn.execute(
        select(variants.c.sku, prices.c.amount)
        .join(products, products.c.id == variants.c.product_id)
        .join(prices, and_(prices.c.variant_id == variants.c.id, prices.c.currency == currency))
        .where(and_(variants.c.sku.in_(skus), variants.c.status == "active", products.c.status == "active"))
    )
    return {r.sku: r.amount for r in rows}
