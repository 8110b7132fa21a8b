"""Promotions and pricing administration: rules, kill switch, discount codes, price lists, groups.

Every write bumps the pricing version in its own transaction, so all processes price with it at once.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import CurrentCaller
from api.deps import Engine, ReadConn
from api.schemas import ErrorResponse, Strict
from db import audit
from db import pricing
from db import promotions as store
from models.errors import DomainError, NotFound
from models.money import normalize_currency
from models.pricing import PriceListCreate, PriceListFields, PriceListOut, PriceListPricesSet
from models.promotions import PricingContext, Promotion, PromotionRule

router = APIRouter(prefix="/admin/promotions", tags=["admin"])
_ERRORS = {404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


class CodeCreate(Strict):
    code: str = Field(pattern=r"^[A-Za-z0-9_-]{3,64}$", examples=["WELCOME10"])
    usage_limit: int | None = Field(None, gt=0, description="Orders in total; none = unlimited")
    per_customer_limit: int | None = Field(None, gt=0, description="Orders per email")
    expires_at: AwareDatetime | None = None


class CodeOut(BaseModel):
    code: str
    promotion_id: str
    active: bool
    expires_at: datetime | None
    usage_limit: int | None
    per_customer_limit: int | None
    uses: int


class PricePreview(BaseModel):
    sku: str
    currency: str
    base: int = Field(description="Catalog price")
    price: int = Field(description="After price lists: the cart line's unit price")
    display: int = Field(description="After per-unit promotions (and the given codes)")


# ---------------------------------------------------------------- price lists (before /{promotion_id})
@router.get("/price-lists", response_model=list[PriceListOut])
async def list_price_lists(conn: ReadConn) -> list[PriceListOut]:
    return await pricing.list_price_lists(conn)


@router.post("/price-lists", status_code=status.HTTP_201_CREATED, response_model=PriceListOut, responses=_ERRORS)
async def create_price_list(body: PriceListCreate, engine: Engine, caller: CurrentCaller) -> PriceListOut:
    async with engine.begin() as conn:
        await pricing.create_price_list(conn, body)
        await audit.record(conn, caller, "price_list.created", target=body.id, details=body.model_dump(mode="json"))
        return await pricing.get_price_list(conn, body.id)


@router.get("/price-lists/{list_id}", response_model=PriceListOut, responses=_ERRORS)
async def get_price_list(list_id: str, conn: ReadConn) -> PriceListOut:
    return await pricing.get_price_list(conn, list_id)


@router.put("/price-lists/{list_id}", response_model=PriceListOut, responses=_ERRORS)
async def update_price_list(list_id: str, body: PriceListFields, engine: Engine, caller: CurrentCaller) -> PriceListOut:
    async with engine.begin() as conn:
        await pricing.update_price_list(conn, list_id, body)
        await audit.record(conn, caller, "price_list.updated", target=list_id, details=body.model_dump(mode="json"))
        return await pricing.get_price_list(conn, list_id)


@router.delete("/price-lists/{list_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def delete_price_list(list_id: str, engine: Engine, caller: CurrentCaller) -> Response:
    async with engine.begin() as conn:
        await pricing.delete_price_list(conn, list_id)
        await audit.record(conn, caller, "price_list.deleted", target=list_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/price-lists/{list_id}/prices", response_model=PriceListOut, responses=_ERRORS)
async def set_list_prices(list_id: str, body: PriceListPricesSet, engine: Engine,
                          caller: CurrentCaller) -> PriceListOut:
    """Replace the list's prices (SKU -> amount in the list's currency)."""
    async with engine.begin() as conn:
        await pricing.set_list_prices(conn, list_id, body.prices)
        await audit.record(conn, caller, "price_list.prices_set", target=list_id, details=body.model_dump(mode="json"))
        return await pricing.get_price_list(conn, list_id)


@router.put("/customer-groups/{group}/members/{email}", status_code=status.HTTP_204_NO_CONTENT)
async def add_member(group: Annotated[str, Path(min_length=1, max_length=50)],
                     email: Annotated[str, Path(min_length=3, max_length=320)], engine: Engine,
                     caller: CurrentCaller) -> Response:
    """Customers get their group's price lists and promotions by the email they check out with."""
    async with engine.begin() as conn:
        await pricing.add_member(conn, group, email)
        await audit.record(conn, caller, "customer_group.member_added", target=group, details={"email": email})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/customer-groups/{group}/members/{email}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(group: str, email: str, engine: Engine, caller: CurrentCaller) -> Response:
    async with engine.begin() as conn:
        await pricing.remove_member(conn, group, email)
        await audit.record(conn, caller, "customer_group.member_removed", target=group, details={"email": email})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/price-preview", response_model=PricePreview, responses=_ERRORS)
async def price_preview(conn: ReadConn, sku: str, currency: str = "USD",
                        segment: Annotated[list[str] | None, Query()] = None, market: str | None = None,
                        channel: str | None = None, code: Annotated[list[str] | None, Query()] = None) -> PricePreview:
    """What one unit costs a customer in these groups, market and channel, with these codes."""
    now = datetime.now(UTC)
    try:
        currency = normalize_currency(currency)
    except ValueError as exc:
        raise DomainError(str(exc), code="unsupported_currency") from exc
    codes = {row.code: row.promotion_id for row in [await store.check_code(conn, c, now) for c in code or []]}
    context = PricingContext(currency=currency, segments=sorted(segment or []),
                             market=market.upper() if market else None, channel=channel, codes=codes)
    found = (await pricing.unit_prices(conn, [sku], context, now)).get(sku)
    if found is None:
        raise NotFound(f"SKU {sku!r} has no {currency} price for sale", code="price_not_found")
    return PricePreview(sku=sku, currency=context.currency, base=found.base, price=found.price, display=found.display)


# ---------------------------------------------------------------- promotions
@router.get("", response_model=list[Promotion])
async def list_promotions(conn: ReadConn) -> list[Promotion]:
    return await store.list_promotions(conn)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Promotion, responses=_ERRORS)
async def create_promotion(body: Promotion, engine: Engine, caller: CurrentCaller) -> Promotion:
    async with engine.begin() as conn:
        await store.create_promotion(conn, body)
        await audit.record(conn, caller, "promotion.created", target=body.id, details=body.model_dump(mode="json"))
        return await store.get_promotion(conn, body.id)


@router.get("/{promotion_id}", response_model=Promotion, responses=_ERRORS)
async def get_promotion(promotion_id: str, conn: ReadConn) -> Promotion:
    return await store.get_promotion(conn, promotion_id)


@router.put("/{promotion_id}", response_model=Promotion, responses=_ERRORS)
async def update_promotion(promotion_id: str, body: PromotionRule, engine: Engine, caller: CurrentCaller) -> Promotion:
    async with engine.begin() as conn:
        updated = await store.update_promotion(conn, promotion_id, body)
        await audit.record(conn, caller, "promotion.updated", target=promotion_id, details=body.model_dump(mode="json"))
        return updated


@router.post("/{promotion_id}/activate", response_model=Promotion, responses=_ERRORS)
async def activate(promotion_id: str, engine: Engine, caller: CurrentCaller) -> Promotion:
    return await _switch(engine, caller, promotion_id, True)


@router.post("/{promotion_id}/deactivate", response_model=Promotion, responses=_ERRORS)
async def deactivate(promotion_id: str, engine: Engine, caller: CurrentCaller) -> Promotion:
    """Kill switch: no cart or checkout gets the promotion from the moment this returns."""
    return await _switch(engine, caller, promotion_id, False)


async def _switch(engine, caller, promotion_id: str, active: bool) -> Promotion:
    async with engine.begin() as conn:
        promotion = await store.set_active(conn, promotion_id, active)
        await audit.record(conn, caller, "promotion.activated" if active else "promotion.deactivated",
                           target=promotion_id)
        return promotion


@router.get("/{promotion_id}/codes", response_model=list[CodeOut], responses=_ERRORS)
async def list_codes(promotion_id: str, conn: ReadConn) -> list[CodeOut]:
    await store.get_promotion(conn, promotion_id)
    return [CodeOut.model_validate(row, from_attributes=True) for row in await store.codes_of(conn, promotion_id)]


@router.post("/{promotion_id}/codes", status_code=status.HTTP_201_CREATED, response_model=CodeOut,
             responses=_ERRORS)
async def create_code(promotion_id: str, body: CodeCreate, engine: Engine, caller: CurrentCaller) -> CodeOut:
    async with engine.begin() as conn:
        await store.create_code(conn, promotion_id, body.code, usage_limit=body.usage_limit,
                                per_customer_limit=body.per_customer_limit, expires_at=body.expires_at)
        await audit.record(conn, caller, "discount_code.created", target=store.normalize_code(body.code),
                           details={"promotion_id": promotion_id, **body.model_dump(mode="json")})
        rows = await store.codes_of(conn, promotion_id)
    return next(CodeOut.model_validate(r, from_attributes=True) for r in rows
                if r.code == store.normalize_code(body.code))
