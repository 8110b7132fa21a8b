"""Payment operation ledger: our own idempotency and amount limits, whatever the provider does.

An operation is recorded as ``pending`` *before* the provider is called, under a
per-payment advisory lock, so two concurrent refunds cannot both pass the limit.
The provider call then completes it as ``succeeded`` or ``failed``.
"""

from sqlalchemy import and_, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import payment_operations
from models.content_hash import content_hash
from models.errors import Conflict
from models.ids import public_id
from models.payments import PaymentTotals, check_capture, check_refund, check_void

COUNTED = ("pending", "succeeded")


def request_hash(**fields) -> str:
    return content_hash(fields)


async def recorded(conn: AsyncConnection, idempotency_key: str, req_hash: str):
    """The operation already recorded under this key, or None. A different body is a conflict."""
    row = (
        await conn.execute(select(payment_operations).where(payment_operations.c.idempotency_key == idempotency_key))
    ).first()
    if row is not None and row.request_hash != req_hash:
        raise Conflict(f"payment key {idempotency_key} reused with different parameters", code="idempotency_key_reused")
    return row


async def totals(conn: AsyncConnection, payment_ref: str, *, counted: tuple[str, ...] = COUNTED) -> PaymentTotals:
    """Sums by kind; ``counted=("succeeded",)`` leaves out what is still in flight."""
    rows = list(await conn.execute(
        select(payment_operations.c.kind, func.sum(payment_operations.c.amount),
               func.bool_or(payment_operations.c.multicapture))
        .where(and_(payment_operations.c.payment_ref == payment_ref, payment_operations.c.status.in_(counted)))
        .group_by(payment_operations.c.kind)
    ))
    sums = {kind: int(amount) for kind, amount, _ in rows}
    multicapture = any(kind == "authorize" and flag for kind, _, flag in rows)
    # An off-session charge (subscription renewal) is authorized and captured in one step.
    charged = sums.get("charge", 0)
    return PaymentTotals(authorized=sums.get("authorize", 0) + charged, captured=sums.get("capture", 0) + charged,
                         refunded=sums.get("refund", 0), voided="void" in sums,
                         closed="capture" in sums and not multicapture)


async def captured_by_key(conn: AsyncConnection, idempotency_keys: list[str]) -> dict[str, int]:
    """What the captures under these keys took, for those that succeeded (the truth an order shows)."""
    rows = await conn.execute(
        select(payment_operations.c.idempotency_key, payment_operations.c.amount)
        .where(and_(payment_operations.c.idempotency_key.in_(idempotency_keys),
                    payment_operations.c.kind == "capture", payment_operations.c.status == "succeeded"))
    )
    return {key: int(amount) for key, amount in rows}


async def uncaptured(conn: AsyncConnection, payment_ref: str, total: int) -> int:
    """What of an order ``total`` is not captured (or in flight) yet; 0 for an order paid up front."""
    return max(0, total - (await totals(conn, payment_ref)).captured)


LIMITS = {"capture": check_capture, "refund": check_refund}


async def begin(conn: AsyncConnection, *, idempotency_key: str, req_hash: str, payment_ref: str, kind: str,
                provider: str, amount: int, currency: str):
    """Record an operation as pending, or return the one already under this key.

    Limits are checked against everything succeeded or in flight for ``payment_ref``.
    """
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:ref, 0))"), {"ref": payment_ref})
    prior = await recorded(conn, idempotency_key, req_hash)
    if prior is not None:
        return prior
    current = await totals(conn, payment_ref)
    if kind in LIMITS:
        LIMITS[kind](current, amount)
    elif kind == "void":
        check_void(current)
    await conn.execute(
        insert(payment_operations).values(
            id=public_id("payment"), idempotency_key=idempotency_key, request_hash=req_hash,
            payment_ref=payment_ref, kind=kind, provider=provider, amount=amount, currency=currency,
            status="pending",
        )
    )
    return await recorded(conn, idempotency_key, req_hash)


async def complete(conn: AsyncConnection, idempotency_key: str, *, status: str, provider_ref: str | None = None,
                   error_code: str | None = None, error_message: str | None = None, multicapture: bool = False):
    await conn.execute(
        update(payment_operations)
        .where(and_(payment_operations.c.idempotency_key == idempotency_key, payment_operations.c.status == "pending"))
        .values(status=status, provider_ref=provider_ref, error_code=error_code, error_message=error_message,
                multicapture=multicapture)
    )
    return (
        await conn.execute(select(payment_operations).where(payment_operations.c.idempotency_key == idempotency_key))
    ).one()


async def note_provider_ref(conn: AsyncConnection, idempotency_key: str, provider_ref: str):
    """The provider accepted the operation but it is not final yet (3-D Secure): remember its id."""
    await conn.execute(
        update(payment_operations)
        .where(and_(payment_operations.c.idempotency_key == idempotency_key, payment_operations.c.status == "pending"))
        .values(provider_ref=provider_ref)
    )
    return (
        await conn.execute(select(payment_operations).where(payment_operations.c.idempotency_key == idempotency_key))
    ).one()


async def operation(conn: AsyncConnection, idempotency_key: str):
    return (
        await conn.execute(select(payment_operations).where(payment_operations.c.idempotency_key == idempotency_key))
    ).first()


async def operations_for(conn: AsyncConnection, payment_ref: str) -> list:
    rows = await conn.execute(
        select(payment_operations).where(payment_operations.c.payment_ref == payment_ref)
        .order_by(payment_operations.c.created_at, payment_operations.c.id)
    )
    return list(rows)
