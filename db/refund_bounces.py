"""Refunds the provider accepted and later failed (Stripe ``refund.failed``): the money never reached the
customer. The ledger stops counting the refund, the refund row says failed, the order goes back to what
the ledger now says, and support is asked to act (the order's ``order.alert`` puts it in the
orders-needing-attention work queue). A new refund is then a new operation under a new Idempotency-Key:
the bounced one is final at the provider, so nothing is retried under another key.

The tax document's refund adjustment stays as it was: the re-issued refund settles it."""

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db import orders as order_store
from db import payments as ledger
from db import webhooks as inbox
from db.tables import order_events, orders, payment_operations, refunds
from models.order_state import REFUND_BOUNCE_TRANSITIONS, status_after_refund_bounce
from models.refunds import refund_id_of


async def record(conn: AsyncConnection, provider_refund_id: str, failure_reason: str) -> str:
    """The webhook's outcome: ``refund_bounced``, ``already_failed`` or ``unknown_refund``."""
    operation = (await conn.execute(
        select(payment_operations).where(and_(payment_operations.c.kind == "refund",
                                              payment_operations.c.provider_ref == provider_refund_id))
        .with_for_update())).first()
    if operation is None:
        return "unknown_refund"
    if operation.status == "failed":
        return "already_failed"
    await conn.execute(update(payment_operations).where(payment_operations.c.id == operation.id).values(
        status="failed", error_code="refund_bounced", error_message=failure_reason[:500]))
    refund_id = refund_id_of(operation.idempotency_key)
    await conn.execute(update(refunds).where(refunds.c.id == refund_id).values(status="failed"))
    order_id = await inbox.order_for_payment(conn, operation.payment_ref)
    if order_id is not None:
        await _reopen_order(conn, order_id, operation, refund_id, failure_reason)
    return "refund_bounced"


async def _reopen_order(conn: AsyncConnection, order_id: str, operation, refund_id: str, failure_reason: str) -> None:
    status = (await conn.execute(select(orders.c.status).where(orders.c.id == order_id).with_for_update())).scalar()
    refunded = (await ledger.totals(conn, operation.payment_ref, counted=("succeeded",))).refunded
    target = status_after_refund_bounce(status, refunded_total=refunded,
                                        before_refunds=await _status_before_refunds(conn, order_id, status))
    await order_store.append_event(
        conn, order_id, f"{refund_id}:bounced", "payment.refund_failed", to_status=target,
        transitions=REFUND_BOUNCE_TRANSITIONS,
        data={"refund_id": refund_id, "amount": operation.amount, "provider_ref": operation.provider_ref,
              "failure_reason": failure_reason})
    await order_store.append_event(
        conn, order_id, f"alert:refund_bounced:{refund_id}", "order.alert",
        data={"alert": f"refund_bounced:{refund_id}",
              "detail": f"refund of {operation.amount} {operation.currency} failed at the provider "
                        f"({failure_reason}); the customer has not been paid back: issue it again"})


async def _status_before_refunds(conn: AsyncConnection, order_id: str, current: str) -> str:
    """The status the order's first refund moved it from."""
    first = (await conn.execute(
        select(order_events.c.from_status).where(and_(order_events.c.order_id == order_id,
                                                      order_events.c.type == "payment.refunded"))
        .order_by(order_events.c.seq).limit(1))).scalar()
    return first or current
