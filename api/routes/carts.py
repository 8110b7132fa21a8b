"""Guest carts: create, read, and change lines (unit price captured when a line is added)."""

from fastapi import APIRouter, status
from sqlalchemy.ext.asyncio import AsyncConnection

from api.deps import Engine, ReadConn
from api.schemas import CartCreate, CartLineOut, CartOut, LineAdd, LineUpdate
from db import carts as store
from models.errors import DomainError
from models.money import normalize_currency

router = APIRouter(prefix="/carts", tags=["carts"])


async def _cart_out(conn: AsyncConnection, cart_id: str) -> CartOut:
    cart, snapshot = await store.get_cart(conn, cart_id)
    lines = [
        CartLineOut(id=line.line_id, sku=line.sku, title=line.title, quantity=line.quantity,
                    unit_price=line.unit_price, line_total=line.unit_price * line.quantity)
        for line in snapshot.lines
    ]
    return CartOut(id=cart.id, status=cart.status, currency=cart.currency, email=cart.email, lines=lines,
                   subtotal=sum(line.line_total for line in lines))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CartOut)
async def create_cart(body: CartCreate, engine: Engine) -> CartOut:
    try:
        currency = normalize_currency(body.currency)
    except ValueError as exc:
        raise DomainError(str(exc), code="unsupported_currency") from exc
    async with engine.begin() as conn:
        cart_id = await store.create_cart(conn, currency, body.email)
        return await _cart_out(conn, cart_id)


@router.get("/{cart_id}", response_model=CartOut)
async def get_cart(cart_id: str, conn: ReadConn) -> CartOut:
    return await _cart_out(conn, cart_id)


@router.post("/{cart_id}/lines", status_code=status.HTTP_201_CREATED, response_model=CartOut)
async def add_line(cart_id: str, body: LineAdd, engine: Engine) -> CartOut:
    async with engine.begin() as conn:
        await store.add_line(conn, cart_id, body.sku, body.quantity)
        return await _cart_out(conn, cart_id)


@router.patch("/{cart_id}/lines/{line_id}", response_model=CartOut)
async def update_line(cart_id: str, line_id: str, body: LineUpdate, engine: Engine) -> CartOut:
    async with engine.begin() as conn:
        await store.update_line(conn, cart_id, line_id, body.quantity)
        return await _cart_out(conn, cart_id)


@router.delete("/{cart_id}/lines/{line_id}", response_model=CartOut)
async def remove_line(cart_id: str, line_id: str, engine: Engine) -> CartOut:
    async with engine.begin() as conn:
        await store.remove_line(conn, cart_id, line_id)
        return await _cart_out(conn, cart_id)
