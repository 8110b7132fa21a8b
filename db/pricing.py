"""Pricing a cart: base prices, price lists (``models.pricing`` rule), promotions and codes.

``unit_prices`` goes through the computed-price cache (``db.price_cache``); ``price_lines`` runs
the pure promotion engine over the result. Every price-list write bumps the pricing version.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db import promotions as promotion_store
from db.catalog import variant_id_of
from db.price_cache import CACHE, bump_version, current_version
from db.tables import (
    carts, customer_group_members, price_list_prices, price_lists, prices, products, variants,
)
from models.errors import Conflict, NotFound
from models.pricing import ListPrice, PriceListCreate, PriceListFields, PriceListOut
from models.promotions import PricingContext, PricingResult, Promotion, PromoLine, apply_promotions


@dataclass(frozen=True)
class UnitPrice:
    base: int  # the catalog's price in the currency
    price: int  # after price lists: what a cart line costs per unit
    display: int  # after per-unit promotions (incl. the cohort's codes): what a product page shows
    category: str | None


# ---------------------------------------------------------------- context
async def cart_context(conn: AsyncConnection, cart_id: str, now: datetime, *,
                       email: str | None = None) -> PricingContext:
    """Who is buying through this cart; ``email`` (the checkout's) overrides the cart's."""
    cart = (await conn.execute(select(carts).where(carts.c.id == cart_id))).first()
    if cart is None:
        raise NotFound(f"cart {cart_id} not found", code="cart_not_found")
    segments = set(await groups_of(conn, email or cart.email))
    if cart.customer_group:
        segments.add(cart.customer_group)
    return PricingContext(currency=cart.currency, segments=sorted(segments), market=cart.market,
                          channel=cart.channel, codes=await promotion_store.cart_codes(conn, cart_id, now))


async def groups_of(conn: AsyncConnection, email: str | None) -> list[str]:
    if not email:
        return []
    return list((await conn.scalars(select(customer_group_members.c.customer_group)
                                    .where(customer_group_members.c.email == email.strip().lower()))).all())


async def add_member(conn: AsyncConnection, group: str, email: str) -> None:
    await conn.execute(insert(customer_group_members).values(customer_group=group, email=email.strip().lower())
                       .on_conflict_do_nothing())


async def remove_member(conn: AsyncConnection, group: str, email: str) -> None:
    await conn.execute(delete(customer_group_members).where(and_(
        customer_group_members.c.customer_group == group, customer_group_members.c.email == email.strip().lower())))


# ---------------------------------------------------------------- prices
async def active_promotions(conn: AsyncConnection, version: tuple) -> list[Promotion]:
    cached = CACHE.promotions(version)
    if cached is None:
        cached = await promotion_store.list_promotions(conn, active_only=True)
        CACHE.keep_promotions(version, cached)
    return cached


async def unit_prices(conn: AsyncConnection, skus: list[str], ctx: PricingContext,
                      now: datetime) -> dict[str, UnitPrice]:
    """Prices of the sellable SKUs among ``skus`` for ``ctx``; missing ones are not for sale now."""
    version = await current_version(conn)  # first: see the module docstring of db.price_cache
    promotions = await active_promotions(conn, version)
    # The promo cohort: what decides which promotions a shopper may get beyond segment and market.
    cohort = f"{ctx.channel or ''}|{','.join(sorted(set(ctx.codes.values())))}"
    key = lambda sku: (version, sku, ",".join(sorted(ctx.segments)), ctx.market, ctx.currency, cohort)  # noqa: E731
    found = {sku: hit for sku in dict.fromkeys(skus) if (hit := CACHE.get(key(sku), now)) is not None}
    missing = [sku for sku in dict.fromkeys(skus) if sku not in found]
    if not missing:
        return found
    per_unit = [p for p in promotions if p.applies_to == "lines" and p.conditions.min_subtotal is None]
    edges = [edge for p in per_unit for edge in p.boundaries()]
    for sku, (base, category, lists) in (await _price_rows(conn, missing, ctx.currency)).items():
        applicable = [amount for amount, group, market, starts, ends in lists
                      if (group is None or group in ctx.segments) and market in (None, ctx.market)
                      and (starts is None or starts <= now) and (ends is None or now < ends)]
        price = min([base, *applicable])
        one = PromoLine(sku=sku, quantity=1, unit_price=price, category=category)
        display = price - apply_promotions([one], ctx, per_unit, now).discount_total
        found[sku] = UnitPrice(base=base, price=price, display=display, category=category)
        window_edges = [t for *_, starts, ends in lists for t in (starts, ends) if t is not None]
        CACHE.put(key(sku), found[sku], now, edges + window_edges)
    return found


async def _price_rows(conn: AsyncConnection, skus: list[str], currency: str) -> dict[str, tuple]:
    """sku -> (base price, category, [(amount, group, market, starts_at, ends_at)]) of sellable SKUs."""
    bases = await conn.execute(
        select(variants.c.sku, prices.c.amount, products.c.category)
        .join(products, products.c.id == variants.c.product_id)
        .join(prices, and_(prices.c.variant_id == variants.c.id, prices.c.currency == currency))
        .where(and_(variants.c.sku.in_(skus), variants.c.status == "active", products.c.status == "active"))
    )
    out = {row.sku: (row.amount, row.category, []) for row in bases}
    lists = await conn.execute(
        select(variants.c.sku, price_list_prices.c.amount, price_lists.c.customer_group, price_lists.c.market,
               price_lists.c.starts_at, price_lists.c.ends_at)
        .join(price_list_prices, price_list_prices.c.variant_id == variants.c.id)
        .join(price_lists, price_lists.c.id == price_list_prices.c.price_list_id)
        .where(and_(variants.c.sku.in_(list(out)), price_lists.c.currency == currency, price_lists.c.active))
    )
    for row in lists:
        out[row.sku][2].append((row.amount, row.customer_group, row.market, row.starts_at, row.ends_at))
    return out


async def price_lines(conn: AsyncConnection, lines: list[PromoLine], ctx: PricingContext,
                      now: datetime) -> PricingResult:
    """Apply the active promotions and the cart's codes to lines already at their unit price."""
    return apply_promotions(lines, ctx, await active_promotions(conn, await current_version(conn)), now)


# ---------------------------------------------------------------- price lists
async def create_price_list(conn: AsyncConnection, data: PriceListCreate) -> None:
    await bump_version(conn)  # first: price writers lock the version row before anything else
    inserted = await conn.execute(insert(price_lists).values(**data.model_dump()).on_conflict_do_nothing()
                                  .returning(price_lists.c.id))
    if inserted.first() is None:
        raise Conflict(f"price list {data.id!r} already exists", code="price_list_exists")


async def update_price_list(conn: AsyncConnection, list_id: str, data: PriceListFields) -> None:
    await bump_version(conn)  # first: price writers lock the version row before anything else
    updated = await conn.execute(update(price_lists).where(price_lists.c.id == list_id)
                                 .values(**data.model_dump(), updated_at=func.now()))
    if updated.rowcount == 0:
        raise NotFound(f"price list {list_id} not found", code="price_list_not_found")


async def delete_price_list(conn: AsyncConnection, list_id: str) -> None:
    await bump_version(conn)  # first: price writers lock the version row before anything else
    if (await conn.execute(delete(price_lists).where(price_lists.c.id == list_id))).rowcount == 0:
        raise NotFound(f"price list {list_id} not found", code="price_list_not_found")


async def set_list_prices(conn: AsyncConnection, list_id: str, new_prices: list[ListPrice]) -> None:
    """Replace the list's prices with ``new_prices``."""
    await bump_version(conn)  # first: price writers lock the version row before anything else
    await get_price_list(conn, list_id)
    await conn.execute(delete(price_list_prices).where(price_list_prices.c.price_list_id == list_id))
    for price in new_prices:
        variant_id = await variant_id_of(conn, price.sku)
        await conn.execute(insert(price_list_prices).values(price_list_id=list_id, variant_id=variant_id,
                                                            amount=price.amount)
                           .on_conflict_do_update(index_elements=[price_list_prices.c.price_list_id,
                                                                  price_list_prices.c.variant_id],
                                                  set_={"amount": price.amount, "updated_at": func.now()}))


async def get_price_list(conn: AsyncConnection, list_id: str) -> PriceListOut:
    row = (await conn.execute(select(price_lists).where(price_lists.c.id == list_id))).first()
    if row is None:
        raise NotFound(f"price list {list_id} not found", code="price_list_not_found")
    return (await _with_prices(conn, [row]))[0]


async def list_price_lists(conn: AsyncConnection) -> list[PriceListOut]:
    return await _with_prices(conn, list(await conn.execute(select(price_lists).order_by(price_lists.c.id))))


async def _with_prices(conn: AsyncConnection, rows: list) -> list[PriceListOut]:
    priced = await conn.execute(
        select(price_list_prices.c.price_list_id, variants.c.sku, price_list_prices.c.amount)
        .join(variants, variants.c.id == price_list_prices.c.variant_id)
        .where(price_list_prices.c.price_list_id.in_([r.id for r in rows])).order_by(variants.c.sku)
    )
    by_list: dict[str, list[ListPrice]] = {r.id: [] for r in rows}
    for p in priced:
        by_list[p.price_list_id].append(ListPrice(sku=p.sku, amount=p.amount))
    fields = set(PriceListOut.model_fields) - {"prices"}
    return [PriceListOut(**{f: getattr(r, f) for f in fields}, prices=by_list[r.id]) for r in rows]
