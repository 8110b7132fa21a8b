"""Checkout records: the idempotency anchor for POST /checkouts and its visible status."""

from sqlalchemy import and_, func, literal, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import carts, checkouts
from models.commerce import TaxExemption
from models.errors import Conflict, NotFound


async def claim(conn: AsyncConnection, *, checkout_id: str, order_id: str, idempotency_key: str,
                request_hash: str, cart_id: str, email: str, workflow_id: str):
    """Insert the checkout for ``idempotency_key``, or stamp the one already there, in one statement (so a
    claim released meanwhile by a failed attempt is simply inserted again).

    Returns ``(row, created, version)``: ``version`` is what ``db.claims.release`` needs if this attempt's
    workflow start fails. The same key with another body raises ``idempotency_key_reused``.
    """
    claimed = (await conn.execute(
        insert(checkouts).values(
            id=checkout_id, order_id=order_id, idempotency_key=idempotency_key, request_hash=request_hash,
            cart_id=cart_id, email=email, workflow_id=workflow_id,
        ).on_conflict_do_update(index_elements=["idempotency_key"], set_={"updated_at": checkouts.c.updated_at})
        # xmax is 0 on a row this statement inserted, and set on one it updated (PostgreSQL's upsert idiom)
        .returning(literal_column("xmax = 0").label("created"), literal_column("xmin::text").label("version"))
    )).one()
    row = (await conn.execute(select(checkouts).where(checkouts.c.idempotency_key == idempotency_key))).one()
    if row.request_hash != request_hash:
        raise Conflict(
            "this Idempotency-Key was already used with a different request body",
            code="idempotency_key_reused",
        )
    return row, claimed.created, claimed.version


async def count_pending(conn: AsyncConnection, *, at_most: int) -> int:
    """Checkouts still pending, counted up to ``at_most``: a bounded scan of ``ix_checkouts_pending``."""
    pending = select(literal(1)).select_from(checkouts).where(checkouts.c.status == "pending").limit(at_most)
    return (await conn.execute(select(func.count()).select_from(pending.subquery()))).scalar_one()


async def get(conn: AsyncConnection, checkout_id: str):
    row = (await conn.execute(select(checkouts).where(checkouts.c.id == checkout_id))).first()
    if row is None:
        raise NotFound(f"checkout {checkout_id} not found", code="checkout_not_found")
    return row


async def finish(conn: AsyncConnection, checkout_id: str, *, status: str, error_code: str | None = None,
                 error_message: str | None = None) -> bool:
    """Settle a pending checkout; False if it was already settled (a retried activity)."""
    result = await conn.execute(
        update(checkouts).where(and_(checkouts.c.id == checkout_id, checkouts.c.status == "pending"))
        .values(status=status, error_code=error_code, error_message=error_message, updated_at=func.now())
    )
    return result.rowcount == 1


async def record_agreement(conn: AsyncConnection, checkout_id: str, *, quote_id: str | None, total: int) -> None:
    """The total the shopper agreed to (a quote's, or ``expected_total``): the checkout is held to it."""
    await conn.execute(update(checkouts).where(checkouts.c.id == checkout_id)
                       .values(quote_id=quote_id, expected_total=total))


async def agreed_total(conn: AsyncConnection, checkout_id: str) -> int | None:
    """The pending checkout's agreed total; None when none was asked for (or no such pending checkout)."""
    return (await conn.execute(select(checkouts.c.expected_total).where(
        and_(checkouts.c.id == checkout_id, checkouts.c.status == "pending")))).scalar()


async def note_error_details(conn: AsyncConnection, checkout_id: str, details: dict) -> None:
    """What GET /checkouts/{id} shows beside the error code once the checkout has failed."""
    await conn.execute(update(checkouts).where(checkouts.c.id == checkout_id).values(error_details=details))


async def record_tax_exemption(conn: AsyncConnection, checkout_id: str, exemption: TaxExemption) -> None:
    await conn.execute(update(checkouts).where(checkouts.c.id == checkout_id)
                       .values(tax_exemption=exemption.model_dump()))


async def pricing_terms_of_cart(conn: AsyncConnection, cart_id: str) -> tuple[str | None, TaxExemption | None]:
    """(email, tax exemption) of the checkout now holding the cart, what its pricing reads: the email the order
    will be placed under (customer groups, code limits) and the exemption for its tax calls. (None, None) when
    no checkout holds it."""
    found = (await conn.execute(select(checkouts.c.email, checkouts.c.tax_exemption)
                                .join(carts, carts.c.checkout_id == checkouts.c.id).where(carts.c.id == cart_id))).first()
    if found is None:
        return None, None
    return found.email, TaxExemption.model_validate(found.tax_exemption) if found.tax_exemption else None
