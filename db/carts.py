"""Carts: guest carts whose lines capture the unit price at the moment of adding."""

from datetime import UTC, datetime

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db import pricing
from db.catalog import EFFECTIVE_TAX_CODE, sellable_price
from db.rows import row_or_404
from db.tables import cart_lines, carts, products, variants
from models.commerce import MAX_LINE_QUANTITY, CartLine, CartSnapshot
from models.errors import Conflict, DomainError, NotFound
from models.ids import public_id


async def create_cart(conn: AsyncConnection, currency: str, email: str | None = None, *, market: str | None = None,
                      channel: str | None = None) -> str:
    cart_id = public_id("cart")
    await conn.execute(carts.insert().values(id=cart_id, currency=currency, email=email, market=market,
                                             channel=channel))
    return cart_id


async def _cart_row(conn: AsyncConnection, cart_id: str, *, lock: bool = False):
    return await row_or_404(conn, carts, cart_id, what="cart", code="cart_not_found", lock=lock)


async def _open_cart(conn: AsyncConnection, cart_id: str):
    """The cart's row, locked, if it may still change; ``cart_locked``/``cart_checked_out`` otherwise."""
    row = await _cart_row(conn, cart_id, lock=True)
    if row.status == "checking_out":
        raise Conflict("the cart is being checked out and cannot change", code="cart_locked")
    if row.status == "checked_out":
        raise Conflict("the cart has already been checked out", code="cart_checked_out")
    return row


async def add_line(conn: AsyncConnection, cart_id: str, sku: str, quantity: int) -> str:
    """Add ``quantity`` of ``sku`` (merging with an existing line); returns the line id."""
    cart = await _open_cart(conn, cart_id)
    unit_price = await sellable_price(conn, sku, cart.currency)  # precise errors for what is not for sale
    now = datetime.now(UTC)
    resolved = await pricing.unit_prices(conn, [sku], await pricing.cart_context(conn, cart_id, now), now)
    unit_price = resolved[sku].price if sku in resolved else unit_price  # price lists applied
    existing = (
        await conn.execute(select(cart_lines).where(and_(cart_lines.c.cart_id == cart_id, cart_lines.c.sku == sku)))
    ).first()
    if existing:
        new_quantity = existing.quantity + quantity
        _check_quantity(new_quantity)
        await conn.execute(
            update(cart_lines).where(cart_lines.c.id == existing.id)
            .values(quantity=new_quantity, unit_price=unit_price, updated_at=func.now())
        )
        line_id = existing.id
    else:
        line_id = public_id("cart_line")
        await conn.execute(
            insert(cart_lines).values(id=line_id, cart_id=cart_id, sku=sku, quantity=quantity, unit_price=unit_price)
        )
    await _touch(conn, cart_id)
    return line_id


def _check_quantity(quantity: int) -> None:
    if quantity > MAX_LINE_QUANTITY:
        raise DomainError(f"at most {MAX_LINE_QUANTITY} units per line", code="quantity_too_large")


async def update_line(conn: AsyncConnection, cart_id: str, line_id: str, quantity: int) -> None:
    await _open_cart(conn, cart_id)
    _check_quantity(quantity)
    result = await conn.execute(
        update(cart_lines).where(and_(cart_lines.c.id == line_id, cart_lines.c.cart_id == cart_id))
        .values(quantity=quantity, updated_at=func.now())
    )
    if result.rowcount == 0:
        raise NotFound(f"line {line_id} not in cart {cart_id}", code="cart_line_not_found")
    await _touch(conn, cart_id)


async def remove_line(conn: AsyncConnection, cart_id: str, line_id: str) -> None:
    await _open_cart(conn, cart_id)
    result = await conn.execute(
        delete(cart_lines).where(and_(cart_lines.c.id == line_id, cart_lines.c.cart_id == cart_id))
    )
    if result.rowcount == 0:
        raise NotFound(f"line {line_id} not in cart {cart_id}", code="cart_line_not_found")
    await _touch(conn, cart_id)


async def lock_for_change(conn: AsyncConnection, cart_id: str):
    """Lock an open cart that is about to change elsewhere (its discount codes) and touch it."""
    row = await _open_cart(conn, cart_id)
    await _touch(conn, cart_id)
    return row


async def _touch(conn: AsyncConnection, cart_id: str) -> None:
    await conn.execute(update(carts).where(carts.c.id == cart_id).values(updated_at=func.now()))


async def get_cart(conn: AsyncConnection, cart_id: str) -> tuple:
    """(cart row, snapshot) for display and checkout."""
    cart = await _cart_row(conn, cart_id)
    rows = await conn.execute(
        select(cart_lines, variants.c.title, variants.c.weight_grams,
               EFFECTIVE_TAX_CODE.label("tax_code"))
        .join(variants, variants.c.sku == cart_lines.c.sku).join(products, products.c.id == variants.c.product_id)
        .where(cart_lines.c.cart_id == cart_id).order_by(cart_lines.c.created_at, cart_lines.c.id)
    )
    lines = [
        CartLine(line_id=r.id, sku=r.sku, title=r.title, quantity=r.quantity, unit_price=r.unit_price,
                 weight_grams=r.weight_grams, tax_code=r.tax_code)
        for r in rows
    ]
    return cart, CartSnapshot(cart_id=cart_id, currency=cart.currency, lines=lines)


async def begin_checkout(conn: AsyncConnection, cart_id: str, checkout_id: str) -> CartSnapshot:
    """Lock the cart for ``checkout_id`` (idempotent) and return its contents."""
    cart = await _cart_row(conn, cart_id, lock=True)
    if cart.checkout_id not in (None, checkout_id) and cart.status != "open":
        code = "cart_checked_out" if cart.status == "checked_out" else "cart_locked"
        raise Conflict("the cart is already being checked out or was checked out", code=code)
    await conn.execute(
        update(carts).where(carts.c.id == cart_id)
        .values(status="checking_out", checkout_id=checkout_id, updated_at=func.now())
    )
    _, snapshot = await get_cart(conn, cart_id)
    refuse_unless_checkoutable(cart, snapshot)  # a refusal rolls the lock back with the transaction
    return snapshot


def refuse_unless_checkoutable(cart, snapshot: CartSnapshot) -> None:
    """The cart rules of a checkout, in one place: checked when the API accepts a checkout (a quick
    answer) and again when the workflow locks the cart (the cart may have changed in between)."""
    if cart.status == "checked_out":
        raise Conflict("the cart has already been checked out", code="cart_checked_out")
    if not snapshot.lines:
        raise DomainError("the cart is empty", code="cart_empty")


async def assert_checkoutable(conn: AsyncConnection, cart_id: str):
    """The cart's row, once it is known it may be checked out (refused otherwise)."""
    cart, snapshot = await get_cart(conn, cart_id)
    refuse_unless_checkoutable(cart, snapshot)
    return cart


async def reopen(conn: AsyncConnection, cart_id: str, checkout_id: str) -> None:
    """Compensation: hand the cart back to the shopper if this checkout still holds it."""
    await conn.execute(
        update(carts).where(and_(carts.c.id == cart_id, carts.c.checkout_id == checkout_id,
                                 carts.c.status == "checking_out"))
        .values(status="open", checkout_id=None, updated_at=func.now())
    )


async def mark_checked_out(conn: AsyncConnection, cart_id: str, checkout_id: str) -> None:
    await conn.execute(
        update(carts).where(and_(carts.c.id == cart_id, carts.c.checkout_id == checkout_id))
        .values(status="checked_out", updated_at=func.now())
    )


async def set_email(conn: AsyncConnection, cart_id: str, email: str | None) -> None:
    """Who the cart belongs to (pricing groups, reminders); only while it may still change."""
    await _open_cart(conn, cart_id)
    await conn.execute(update(carts).where(carts.c.id == cart_id).values(email=email, updated_at=func.now()))
