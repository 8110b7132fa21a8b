"""Guest carts: create, read, change lines (unit price captured when a line is added) and discount codes."""

from datetime import UTC, datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, EmailStr
from sqlalchemy.ext.asyncio import AsyncConnection

from api.deps import AppSettings, Engine, ReadConn, Services, Temporal
from api.errors import ApiError
from api.ownership import CART_TOKEN, OptionalCustomer
from api.schemas import (
    CartCodeOut, CartCreate, CartDiscountOut, CartLineOut, CartOut, DiscountCodeAdd, ErrorResponse, LineAdd, LineUpdate,
)
from db import carts as store
from db import customers
from db import pricing
from db import promotions
from models.errors import DomainError
from models.money import normalize_currency
from models.promotions import PromoLine
from models.quotes import Quote, QuoteRequest
from services import quotes
from services.cart_recovery import start_reminders

router = APIRouter(prefix="/carts", tags=["carts"])
_CODE_ERRORS = {404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


async def _cart_out(conn: AsyncConnection, cart_id: str) -> CartOut:
    """The cart at the prices captured on its lines, with today's promotions and its codes applied."""
    cart, snapshot = await store.get_cart(conn, cart_id)
    now = datetime.now(UTC)
    context = await pricing.cart_context(conn, cart_id, now)
    known = await pricing.unit_prices(conn, [line.sku for line in snapshot.lines], context, now)
    priced = await pricing.price_lines(conn, [
        PromoLine(sku=line.sku, quantity=line.quantity, unit_price=line.unit_price,
                  category=known[line.sku].category if line.sku in known else None)
        for line in snapshot.lines], context, now)
    lines = [
        CartLineOut(id=line.line_id, sku=line.sku, title=line.title, quantity=line.quantity,
                    unit_price=line.unit_price, line_total=line.unit_price * line.quantity, discount=result.discount)
        for line, result in zip(snapshot.lines, priced.lines)
    ]
    return CartOut(
        id=cart.id, status=cart.status, currency=cart.currency, email=cart.email, lines=lines,
        subtotal=priced.subtotal, discount_total=priced.discount_total, total=priced.subtotal - priced.discount_total,
        discount_codes=[CartCodeOut(code=code, applied=code in priced.codes)
                        for code in await promotions.cart_codes(conn, cart_id)],
        discounts=[CartDiscountOut(promotion_id=a.promotion_id, code=a.code, amount=a.amount,
                                   free_shipping=a.free_shipping) for a in priced.applied],
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CartOut, responses={201: {"headers": {
    CART_TOKEN: {"description": "The guest's proof for this cart: send it back on every call about the cart",
                 "schema": {"type": "string"}}}}})
async def create_cart(body: CartCreate, engine: Engine, temporal: Temporal, settings: AppSettings,
                      customer_id: OptionalCustomer, response: Response) -> CartOut:
    """A cart created with an email gets abandoned-cart reminders until it checks out. It belongs to the
    customer of `X-Customer-Token` if one is sent; either way `X-Cart-Token` in the answer proves it."""
    try:
        currency = normalize_currency(body.currency)
    except ValueError as exc:
        raise DomainError(str(exc), code="unsupported_currency") from exc
    async with engine.begin() as conn:
        cart_id = await store.create_cart(conn, currency, body.email,
                                          market=body.market.upper() if body.market else None, channel=body.channel)
        if customer_id is not None:
            await customers.link_cart(conn, cart_id, customer_id)
        out = await _cart_out(conn, cart_id)
    response.headers[CART_TOKEN] = settings.customer_tokens.cart_token(cart_id)
    if body.email:
        await start_reminders(temporal, settings, cart_id, body.email)
    return out


class CartEmail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr


@router.put("/{cart_id}/email", response_model=CartOut, responses=_CODE_ERRORS)
async def set_cart_email(cart_id: str, body: CartEmail, engine: Engine, temporal: Temporal,
                         settings: AppSettings) -> CartOut:
    """Attach the shopper's email (open carts only); starts abandoned-cart reminders."""
    async with engine.begin() as conn:
        await store.set_email(conn, cart_id, body.email)
        out = await _cart_out(conn, cart_id)
    await start_reminders(temporal, settings, cart_id, body.email)
    return out


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


@router.post("/{cart_id}/discount-codes", status_code=status.HTTP_201_CREATED, response_model=CartOut,
             responses=_CODE_ERRORS)
async def add_discount_code(cart_id: str, body: DiscountCodeAdd, engine: Engine) -> CartOut:
    """Attach a code: `discount_code_not_found` (404), `discount_code_inactive` (expired or switched
    off, 422), `discount_code_exhausted` (409). It is counted only when an order is placed with it."""
    async with engine.begin() as conn:
        cart = await store.lock_for_change(conn, cart_id)
        await promotions.attach(conn, cart_id, body.code, datetime.now(UTC), cart.email)
        return await _cart_out(conn, cart_id)


@router.delete("/{cart_id}/discount-codes/{code}", response_model=CartOut, responses=_CODE_ERRORS)
async def remove_discount_code(cart_id: str, code: str, engine: Engine) -> CartOut:
    async with engine.begin() as conn:
        await store.lock_for_change(conn, cart_id)
        await promotions.detach(conn, cart_id, code)
        return await _cart_out(conn, cart_id)


@router.post("/{cart_id}/quote", response_model=Quote, responses={**_CODE_ERRORS, 503: {"model": ErrorResponse}})
async def quote(cart_id: str, body: QuoteRequest, services: Services) -> Quote:
    """The total a checkout of this cart to this address will charge, line by line, with the shipping options,
    computed as the checkout computes it. Send `quote_id` with POST /checkouts to be held to it (until
    `expires_at`); a repeat for an unchanged cart and address answers the same quote without asking the
    carrier or the tax service again. `discount_codes` are attached to the cart first. `503 quote_unavailable`
    (+ `Retry-After`) while the carrier or the tax service does not answer."""
    return await quotes.quote(services, cart_id, body)
