"""Payment operation ledger: our own idempotency and amount limits, whatever the provider does."""

import hashlib
import json

from sqlalchemy import and_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import payment_operations
from models.errors import Conflict
from models.ids import public_id


def request_hash(**fields) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


async def recorded(conn: AsyncConnection, idempotency_key: str, req_hash: str):
    """The operation already recorded under this key, or None. A different body is a conflict."""
    row = (
        await conn.execute(select(payment_operations).where(payment_operations.c.idempotency_key == idempotency_key))
    ).first()
    if row is not None and row.request_hash != req_hash:
        raise Conflict(f"payment key {idempotency_key} reused with different parameters", code="idempotency_key_reused")
    return row


async def record(conn: AsyncConnection, *, idempotency_key: str, req_hash: str, payment_ref: str, kind: str,
                 provider: str, provider_ref: str | None, amount: int, currency: str, status: str,
                 error_code: str | None = None, error_message: str | None = None):
    await conn.execute(
        insert(payment_operations).values(
            id=public_id("payment"), idempotency_key=idempotency_key, request_hash=req_hash,
            payment_ref=payment_ref, kind=kind, provider=provider, provider_ref=provider_ref, amount=amount,
            currency=currency, status=status, error_code=error_code, error_message=error_message,
        ).on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    return await recorded(conn, idempotency_key, req_hash)


async def operations_for(conn: AsyncConnection, payment_ref: str) -> list:
    rows = await conn.execute(
        select(payment_operations).where(payment_operations.c.payment_ref == payment_ref)
        .order_by(payment_operations.c.created_at)
    )
    return list(rows)


async def total(conn: AsyncConnection, payment_ref: str, kind: str, status: str) -> int:
    value = (
        await conn.execute(
            select(func.coalesce(func.sum(payment_operations.c.amount), 0)).where(
                and_(payment_operations.c.payment_ref == payment_ref, payment_operations.c.kind == kind,
                     payment_operations.c.status == status)
            )
        )
    ).scalar_one()
    return int(value)
