"""Catalog store: products, variants and prices, and the reads the checkout path depends on.

Unique columns (handle, SKU, GTIN) are checked inside the caller's transaction before
writing, so the usual mistake gets a precise error; a concurrent writer that wins the race
trips the unique constraint instead, which maps to the same ``Conflict`` code.
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from db.price_cache import bump_version
from db.tables import prices, products, variants
from models.catalog import CsvError, CsvProduct, ImportOutcome, PriceIn, ProductCreate, VariantIn
from models.errors import Conflict, DomainError, NotFound
from models.ids import public_id

# The tax code a variant is sold under: its own, else its product's (selected with both tables joined).
EFFECTIVE_TAX_CODE = func.coalesce(variants.c.tax_code, products.c.tax_code)

_UNIQUE_CODES = {"uq_products_handle": "handle_taken", "uq_variants_sku": "sku_taken",
                 "uq_variants_gtin": "gtin_taken"}


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


# ---------------------------------------------------------------- uniqueness
@contextmanager
def _unique_conflicts() -> Iterator[None]:
    try:
        yield
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
        if constraint not in _UNIQUE_CODES:
            raise
        code = _UNIQUE_CODES[constraint]
        raise Conflict(f"{code.removesuffix('_taken')} is already in use", code=code) from exc


async def _ensure_free(conn: AsyncConnection, *, handle: str | None = None, skus: Sequence[str] = (),
                       gtins: Sequence[str | None] = (), gtin_owner: str | None = None) -> None:
    if handle and await _product_id_by_handle(conn, handle):
        raise Conflict(f"handle {handle!r} is already in use", code="handle_taken", details={"handle": handle})
    if skus:
        taken = (await conn.scalars(select(variants.c.sku).where(variants.c.sku.in_(skus)))).all()
        if taken:
            raise Conflict(f"SKU {', '.join(sorted(taken))} already exists", code="sku_taken",
                           details={"skus": sorted(taken)})
    gtins = [g for g in gtins if g]
    if gtins:
        query = select(variants.c.gtin).where(variants.c.gtin.in_(gtins))
        if gtin_owner:
            query = query.where(variants.c.sku != gtin_owner)
        taken = (await conn.scalars(query)).all()
        if taken:
            raise Conflict(f"GTIN {', '.join(sorted(taken))} is used by another variant", code="gtin_taken",
                           details={"gtins": sorted(taken)})


async def _product_id_by_handle(conn: AsyncConnection, handle: str) -> str | None:
    return (await conn.execute(select(products.c.id).where(products.c.handle == handle))).scalar()


async def variant_id_of(conn: AsyncConnection, sku: str) -> str:
    """The variant's id, or ``NotFound`` (``unknown_sku``)."""
    found = (await conn.execute(select(variants.c.id).where(variants.c.sku == sku))).scalar()
    if found is None:
        raise NotFound(f"unknown SKU {sku!r}", code="unknown_sku")
    return found


# ---------------------------------------------------------------- writes
async def create_product(conn: AsyncConnection, data: ProductCreate) -> str:
    """Insert a product with its variants and prices; returns the product id."""
    await _ensure_free(conn, handle=data.handle, skus=[v.sku for v in data.variants],
                       gtins=[v.gtin for v in data.variants])
    product_id = public_id("product")
    with _unique_conflicts():
        await conn.execute(products.insert().values(id=product_id, **data.model_dump(exclude={"variants"})))
        for variant in data.variants:
            await _insert_variant(conn, product_id, variant)
    return product_id


async def _insert_variant(conn: AsyncConnection, product_id: str, variant: VariantIn) -> None:
    variant_id = public_id("variant")
    await conn.execute(variants.insert().values(id=variant_id, product_id=product_id,
                                                **variant.model_dump(exclude={"prices"})))
    await _upsert_prices(conn, variant_id, variant.prices)


async def update_product(conn: AsyncConnection, product_id: str, changes: dict) -> None:
    await bump_version(conn)  # status and category are part of computed prices
    result = await conn.execute(
        update(products).where(products.c.id == product_id).values(**changes, updated_at=func.now())
    )
    if result.rowcount == 0:
        raise NotFound(f"product {product_id} not found", code="product_not_found")


async def add_variant(conn: AsyncConnection, product_id: str, variant: VariantIn) -> None:
    if (await conn.execute(select(products.c.id).where(products.c.id == product_id))).first() is None:
        raise NotFound(f"product {product_id} not found", code="product_not_found")
    await _ensure_free(conn, skus=[variant.sku], gtins=[variant.gtin])
    with _unique_conflicts():
        await _insert_variant(conn, product_id, variant)
    await _touch(conn, product_id)


async def update_variant(conn: AsyncConnection, sku: str, changes: dict) -> None:
    await variant_id_of(conn, sku)
    if changes.get("gtin"):
        await _ensure_free(conn, gtins=[changes["gtin"]], gtin_owner=sku)
    await bump_version(conn)
    with _unique_conflicts():
        await conn.execute(update(variants).where(variants.c.sku == sku).values(**changes, updated_at=func.now()))


async def set_prices(conn: AsyncConnection, sku: str, new_prices: list[PriceIn], *, replace: bool = True) -> None:
    """Upsert ``new_prices``; with ``replace`` the currencies not listed are removed."""
    variant_id = await variant_id_of(conn, sku)
    await bump_version(conn)
    if replace:
        await conn.execute(delete(prices).where(and_(
            prices.c.variant_id == variant_id, prices.c.currency.not_in([p.currency for p in new_prices]))))
    await _upsert_prices(conn, variant_id, new_prices)


async def _upsert_prices(conn: AsyncConnection, variant_id: str, new_prices: list[PriceIn]) -> None:
    # Computed prices of every process are stale once this commits. Price writers take this
    # single-row lock before any other (db.price_cache), so they serialize without deadlocks.
    await bump_version(conn)
    for price in new_prices:
        stmt = insert(prices).values(variant_id=variant_id, currency=price.currency, amount=price.amount)
        await conn.execute(stmt.on_conflict_do_update(
            index_elements=[prices.c.variant_id, prices.c.currency],
            set_={"amount": stmt.excluded.amount, "updated_at": func.now()},
        ))


async def _touch(conn: AsyncConnection, product_id: str) -> None:
    await conn.execute(update(products).where(products.c.id == product_id).values(updated_at=func.now()))


# ---------------------------------------------------------------- reads
async def get_product(conn: AsyncConnection, product_id: str) -> dict:
    """The product's row with ``variants``, each with its ``prices`` (the API's ProductOut)."""
    row = (await conn.execute(select(products).where(products.c.id == product_id))).first()
    if row is None:
        raise NotFound(f"product {product_id} not found", code="product_not_found")
    return (await _with_variants(conn, [row]))[0]


async def list_products(conn: AsyncConnection, *, status: str | None = None, limit: int = 50,
                        cursor: str | None = None) -> tuple[list[dict], str | None]:
    """A page of products (as ``get_product``) ordered by id, and the cursor of the next page (None on the
    last); ``cursor`` is the last id of the previous page."""
    query = select(products).order_by(products.c.id).limit(limit + 1)
    if status:
        query = query.where(products.c.status == status)
    if cursor:
        query = query.where(products.c.id > cursor)
    rows = list(await conn.execute(query))
    page = rows[:limit]
    next_cursor = page[-1].id if len(rows) > limit else None
    return await _with_variants(conn, page), next_cursor


async def get_variant(conn: AsyncConnection, sku: str) -> dict:
    row = (await conn.execute(select(variants).where(variants.c.sku == sku))).first()
    if row is None:
        raise NotFound(f"unknown SKU {sku!r}", code="unknown_sku")
    return (await _variants_out(conn, [row]))[0]


async def _with_variants(conn: AsyncConnection, product_rows: list) -> list[dict]:
    variant_rows = list(await conn.execute(
        select(variants).where(variants.c.product_id.in_([p.id for p in product_rows]))
        .order_by(variants.c.created_at, variants.c.sku)
    ))
    by_product = defaultdict(list)
    for row, out in zip(variant_rows, await _variants_out(conn, variant_rows)):
        by_product[row.product_id].append(out)
    return [{**p._mapping, "variants": by_product[p.id]} for p in product_rows]


async def _variants_out(conn: AsyncConnection, variant_rows: list) -> list[dict]:
    price_rows = await conn.execute(
        select(prices).where(prices.c.variant_id.in_([v.id for v in variant_rows])).order_by(prices.c.currency)
    )
    by_variant = defaultdict(list)
    for price in price_rows:
        by_variant[price.variant_id].append({"currency": price.currency, "amount": price.amount})
    return [{**v._mapping, "prices": by_variant[v.id]} for v in variant_rows]


# ---------------------------------------------------------------- CSV import
async def import_products(conn: AsyncConnection, parsed: list[CsvProduct]) -> ImportOutcome:
    """Create or update each parsed product in its own savepoint: all of its rows or none."""
    report = ImportOutcome()
    for product in parsed:
        errors = await _import_conflicts(conn, product)
        if errors:
            report.errors += errors
            continue
        try:
            async with conn.begin_nested():
                created_products, created_variants, updated = await _import_one(conn, product)
        except DomainError as exc:  # e.g. a concurrent writer took a handle/SKU/GTIN meanwhile
            report.errors.append(CsvError(row=product.rows[0].row, code=exc.code, message=exc.message))
            continue
        report.created_products += created_products
        report.created_variants += created_variants
        report.updated += updated
    return report


async def _import_conflicts(conn: AsyncConnection, product: CsvProduct) -> list[CsvError]:
    """Rows whose SKU belongs to another product or whose GTIN belongs to another variant."""
    product_id = await _product_id_by_handle(conn, product.handle)
    skus = [r.sku for r in product.rows]
    gtins = [r.gtin for r in product.rows if r.gtin]
    sku_owner = dict((await conn.execute(
        select(variants.c.sku, variants.c.product_id).where(variants.c.sku.in_(skus)))).tuples().all())
    gtin_owner = dict((await conn.execute(
        select(variants.c.gtin, variants.c.sku).where(variants.c.gtin.in_(gtins)))).tuples().all())
    errors = []
    for row in product.rows:
        if row.sku in sku_owner and sku_owner[row.sku] != product_id:
            errors.append(CsvError(row=row.row, field="sku", code="sku_taken",
                                   message=f"SKU {row.sku} belongs to another product"))
        if row.gtin and gtin_owner.get(row.gtin, row.sku) != row.sku:
            errors.append(CsvError(row=row.row, field="gtin", code="gtin_taken",
                                   message=f"GTIN {row.gtin} is used by SKU {gtin_owner[row.gtin]}"))
    return errors


async def _import_one(conn: AsyncConnection, product: CsvProduct) -> tuple[int, int, int]:
    """Returns (created products, created variants, updated products and variants)."""
    product_id = await _product_id_by_handle(conn, product.handle)
    if product_id is None:
        await create_product(conn, ProductCreate(
            handle=product.handle, title=product.title, description=product.description or "",
            category=product.category, status=product.status or "draft",
            variants=[row.new_variant(product.title) for row in product.rows]))
        return 1, len(product.rows), 0
    await update_product(conn, product_id, product.product_changes())
    own_skus = set((await conn.scalars(select(variants.c.sku).where(variants.c.product_id == product_id))).all())
    created = updated = 0
    for row in product.rows:
        if row.sku not in own_skus:
            await add_variant(conn, product_id, row.new_variant(product.title))
            created += 1
            continue
        if changes := row.variant_changes():
            await update_variant(conn, row.sku, changes)
        if row.prices:
            await set_prices(conn, row.sku, row.prices, replace=False)
        updated += 1
    return 0, created, updated + 1
