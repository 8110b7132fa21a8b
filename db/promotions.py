"""Promotions, discount codes and their redemption.

Every promotion write bumps ``pricing_version`` in the same transaction (cache invalidation).
A redemption locks the code's row, so the total and per-customer limits hold under any number
of concurrent checkouts; ``code_redemptions`` (code, order_id) makes a replayed order a no-op.

Giving uses back: an order that reaches ``cancelled`` (support cancel, authorization-expiry
cancel, any other path) returns every code use it consumed, in the transaction that writes the
cancellation (see ``release_order_codes``), so a single-use or per-customer-limited code can be
used again. Refunds, partial or full, and returns do not: the order happened, the use stands.
The order's ``order_promotions`` rows stay either way, as the history of what it was given.
"""

from datetime import datetime

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.price_cache import bump_version
from db.tables import cart_discount_codes, code_redemptions, discount_codes, order_promotions, promotions
from models.commerce import OrderDraft
from models.errors import Conflict, DomainError, NotFound
from models.promotions import Promotion, PromotionRule


def normalize_code(code: str) -> str:
    return code.strip().upper()


def _promotion(row) -> Promotion:
    return Promotion.model_validate({**row.rule, "id": row.id, "active": row.active})


# ---------------------------------------------------------------- promotions
async def create_promotion(conn: AsyncConnection, promotion: Promotion) -> None:
    await bump_version(conn)
    rule = promotion.model_dump(mode="json", exclude={"id"})
    inserted = await conn.execute(insert(promotions).values(id=promotion.id, active=promotion.active, rule=rule)
                                  .on_conflict_do_nothing().returning(promotions.c.id))
    if inserted.first() is None:
        raise Conflict(f"promotion {promotion.id!r} already exists", code="promotion_exists")


async def update_promotion(conn: AsyncConnection, promotion_id: str, rule: PromotionRule) -> Promotion:
    await bump_version(conn)
    updated = await conn.execute(
        update(promotions).where(promotions.c.id == promotion_id)
        .values(active=rule.active, rule=rule.model_dump(mode="json", exclude={"id"}), updated_at=func.now())
    )
    if updated.rowcount == 0:
        raise NotFound(f"promotion {promotion_id} not found", code="promotion_not_found")
    return await get_promotion(conn, promotion_id)


async def set_active(conn: AsyncConnection, promotion_id: str, active: bool) -> Promotion:
    """The kill switch: takes effect for every process at once (version bump)."""
    await bump_version(conn)
    promotion = await get_promotion(conn, promotion_id)
    return await update_promotion(conn, promotion_id, promotion.model_copy(update={"active": active}))


async def get_promotion(conn: AsyncConnection, promotion_id: str) -> Promotion:
    row = (await conn.execute(select(promotions).where(promotions.c.id == promotion_id))).first()
    if row is None:
        raise NotFound(f"promotion {promotion_id} not found", code="promotion_not_found")
    return _promotion(row)


async def list_promotions(conn: AsyncConnection, *, active_only: bool = False) -> list[Promotion]:
    query = select(promotions).order_by(promotions.c.id)
    if active_only:
        query = query.where(promotions.c.active)
    return [_promotion(row) for row in await conn.execute(query)]


# ---------------------------------------------------------------- codes
async def create_code(conn: AsyncConnection, promotion_id: str, code: str, *, usage_limit: int | None = None,
                      per_customer_limit: int | None = None, expires_at: datetime | None = None) -> None:
    promotion = await get_promotion(conn, promotion_id)
    if not promotion.code_required:
        raise DomainError(f"promotion {promotion_id} applies without a code", code="promotion_not_code_based")
    inserted = await conn.execute(
        insert(discount_codes).values(code=normalize_code(code), promotion_id=promotion_id, usage_limit=usage_limit,
                                      per_customer_limit=per_customer_limit, expires_at=expires_at)
        .on_conflict_do_nothing().returning(discount_codes.c.code)
    )
    if inserted.first() is None:
        raise Conflict(f"discount code {normalize_code(code)} already exists", code="discount_code_exists")


async def codes_of(conn: AsyncConnection, promotion_id: str) -> list:
    return list(await conn.execute(select(discount_codes).where(discount_codes.c.promotion_id == promotion_id)
                                   .order_by(discount_codes.c.code)))


async def check_code(conn: AsyncConnection, code: str, now: datetime, email: str | None = None):
    """The code's row if it can be used now by ``email``; otherwise the precise error."""
    row = (await conn.execute(
        select(discount_codes, promotions.c.active.label("promotion_active"))
        .join(promotions, promotions.c.id == discount_codes.c.promotion_id)
        .where(discount_codes.c.code == normalize_code(code))
    )).first()
    if row is None:
        raise NotFound(f"unknown discount code {code!r}", code="discount_code_not_found")
    if not (row.active and row.promotion_active) or (row.expires_at and row.expires_at <= now):
        raise DomainError(f"discount code {row.code} is expired or inactive", code="discount_code_inactive")
    if row.usage_limit is not None and row.uses >= row.usage_limit:
        raise _exhausted(row.code)
    if email and row.per_customer_limit is not None and await _uses_by(conn, row.code, email) >= row.per_customer_limit:
        raise _exhausted(row.code, per_customer=True)
    return row


def _exhausted(code: str, per_customer: bool = False) -> Conflict:
    whose = "for this customer " if per_customer else ""
    return Conflict(f"discount code {code} has no uses left {whose}".strip(), code="discount_code_exhausted")


async def _uses_by(conn: AsyncConnection, code: str, email: str) -> int:
    return (await conn.execute(select(func.count()).select_from(code_redemptions).where(
        and_(code_redemptions.c.code == code, code_redemptions.c.email == email.strip().lower())))).scalar_one()


async def redeem(conn: AsyncConnection, code: str, email: str, order_id: str) -> bool:
    """Count one use of ``code`` for ``order_id``, exactly once. False when already counted.

    Raises ``discount_code_exhausted`` when the total or per-customer limit is reached.
    """
    code = normalize_code(code)
    row = (await conn.execute(select(discount_codes).where(discount_codes.c.code == code).with_for_update())).first()
    if row is None:
        raise NotFound(f"unknown discount code {code!r}", code="discount_code_not_found")
    seen = await conn.execute(select(code_redemptions.c.code).where(
        and_(code_redemptions.c.code == code, code_redemptions.c.order_id == order_id)))
    if seen.first():
        return False
    if row.per_customer_limit is not None and await _uses_by(conn, code, email) >= row.per_customer_limit:
        raise _exhausted(code, per_customer=True)
    counted = await conn.execute(
        update(discount_codes)
        .where(and_(discount_codes.c.code == code,
                    (discount_codes.c.usage_limit.is_(None)) | (discount_codes.c.uses < discount_codes.c.usage_limit)))
        .values(uses=discount_codes.c.uses + 1, updated_at=func.now())
    )
    if counted.rowcount == 0:
        raise _exhausted(code)
    await conn.execute(code_redemptions.insert().values(code=code, order_id=order_id, email=email.strip().lower()))
    return True


async def release_order_codes(conn: AsyncConnection, order_id: str) -> list[str]:
    """Give back the code uses ``order_id`` consumed; the codes released, sorted. Idempotent.

    Called when the order is cancelled, never on a refund or return (see the module docstring).
    Deleting the (code, order_id) redemption frees the per-customer count; ``uses`` drops by one
    only for a row this call actually deleted, so a replayed cancel releases nothing twice, and
    never below 0. The codes come from the order's ``order_promotions`` (written with the
    redemptions by ``record_on_order``), so the delete goes through the (code, order_id) key.
    """
    used = select(order_promotions.c.code).where(order_promotions.c.order_id == order_id,
                                                 order_promotions.c.code.is_not(None))
    deleted = await conn.execute(delete(code_redemptions).where(
        and_(code_redemptions.c.code.in_(used), code_redemptions.c.order_id == order_id))
        .returning(code_redemptions.c.code))
    released = sorted(deleted.scalars().all())
    for code in released:  # sorted: concurrent releases lock the codes' rows in one order
        await conn.execute(update(discount_codes).where(and_(discount_codes.c.code == code, discount_codes.c.uses > 0))
                           .values(uses=discount_codes.c.uses - 1, updated_at=func.now()))
    return released


# ---------------------------------------------------------------- carts and orders
async def attach(conn: AsyncConnection, cart_id: str, code: str, now: datetime, email: str | None) -> None:
    row = await check_code(conn, code, now, email)
    await conn.execute(insert(cart_discount_codes).values(cart_id=cart_id, code=row.code).on_conflict_do_nothing())


async def detach(conn: AsyncConnection, cart_id: str, code: str) -> None:
    removed = await conn.execute(delete(cart_discount_codes).where(
        and_(cart_discount_codes.c.cart_id == cart_id, cart_discount_codes.c.code == normalize_code(code))))
    if removed.rowcount == 0:
        raise NotFound(f"discount code {code!r} is not on cart {cart_id}", code="discount_code_not_attached")


async def cart_codes(conn: AsyncConnection, cart_id: str, usable_at: datetime | None = None) -> dict[str, str]:
    """Codes attached to the cart -> their promotion ids; with ``usable_at`` only those active then.

    An expired or switched-off code simply stops applying, like a switched-off promotion.
    """
    query = (select(discount_codes.c.code, discount_codes.c.promotion_id)
             .join(cart_discount_codes, cart_discount_codes.c.code == discount_codes.c.code)
             .where(cart_discount_codes.c.cart_id == cart_id).order_by(discount_codes.c.code))
    if usable_at is not None:
        query = query.where(discount_codes.c.active, (discount_codes.c.expires_at.is_(None))
                            | (discount_codes.c.expires_at > usable_at))
    return dict((await conn.execute(query)).tuples().all())


async def record_on_order(conn: AsyncConnection, draft: OrderDraft) -> None:
    """Redeem the codes the order used and record its promotions (inside the order's transaction)."""
    for applied in draft.priced.promotions:
        if applied.code:
            await redeem(conn, applied.code, draft.email, draft.order_id)
        await conn.execute(insert(order_promotions).values(
            order_id=draft.order_id, promotion_id=applied.promotion_id, code=applied.code, amount=applied.amount,
            free_shipping=applied.free_shipping, allocations=applied.allocations,
        ).on_conflict_do_nothing())


async def order_promotions_of(conn: AsyncConnection, order_id: str) -> list[dict]:
    rows = await conn.execute(select(order_promotions).where(order_promotions.c.order_id == order_id)
                              .order_by(order_promotions.c.promotion_id))
    return [row._asdict() for row in rows]
