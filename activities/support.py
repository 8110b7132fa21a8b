"""Support actions that move money after the fact: refunds (returns reuse them)."""

import hashlib

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.errors import raises_business_errors
from activities.payments_service import PaymentService
from adapters.ports import TaxCalculator
from db import fulfillment as fulfillment_store
from db import orders as order_store
from db import payments as ledger
from db import refunds as refund_store
from db.tables import orders, shipments
from models.disputes import refuse_refund_if_disputed
from models.errors import DomainError
from models.fulfillment import FulfillmentPolicy
from models.order_state import transition
from models.refunds import RefundCommand, RefundResult, refund_amount, refund_payment_key, status_after_refund

log = structlog.get_logger("orderflow.support")


def _request_hash(command: RefundCommand) -> str:
    return hashlib.sha256(command.request.model_dump_json().encode()).hexdigest()


class RefundService:
    """Support refunds and return refunds alike (plain Python: the returns activities call it too)."""

    def __init__(self, engine: AsyncEngine, payments: PaymentService, tax: TaxCalculator):
        self.engine = engine
        self.payments = payments
        self.tax = tax

    async def issue(self, command: RefundCommand) -> RefundResult:
        """Refund money (through the ledger's limits), the matching tax, and record it on the order."""
        async with self.engine.connect() as conn:
            order = await fulfillment_store.snapshot(conn, command.order_id, FulfillmentPolicy())
            row = (await conn.execute(select(orders.c.tax_total).where(orders.c.id == command.order_id))).one()
            existing = await refund_store.get(conn, command.refund_id)
            blocking = await refund_store.blocking_dispute(conn, command.order_id)
            totals = await ledger.totals(conn, order.payment_ref)
            done_quantities = await refund_store.refunded_quantities(conn, command.order_id,
                                                                     excluding=command.refund_id)
            documents = (await conn.execute(select(shipments.c.id).where(
                shipments.c.order_id == command.order_id, shipments.c.capture_amount > 0))).scalars().all()
        if existing is not None and existing.status == "succeeded":
            if existing.request_hash != _request_hash(command):
                raise DomainError("this Idempotency-Key was already used for a different refund",
                                  code="idempotency_key_reused")
            return self._result(command, existing.amount, existing.currency, existing.tax_refunded, order.status)
        if existing is None:  # a refund already claimed finishes under its key whatever happened since
            refuse_refund_if_disputed(blocking)
        request = command.request
        amount = existing.amount if existing is not None else refund_amount(
            request, order.lines, shipping_total=order.shipping_total,
            shipping_tax=row.tax_total - sum(line.tax for line in order.lines),
            refunded_quantities=done_quantities, refundable=totals.refundable)
        target = status_after_refund(totals.refunded + (0 if existing is not None else amount), order.total)
        transition(order.status, target)  # refuse before any money moves (e.g. a disputed order)
        async with self.engine.begin() as conn:
            await refund_store.claim(
                conn, refund_id=command.refund_id, order_id=command.order_id, request_hash=_request_hash(command),
                amount=amount, currency=order.currency, lines=[line.model_dump() for line in request.lines or []],
                include_shipping=request.include_shipping, reason=request.reason, actor=command.actor)
        try:
            await self.payments.refund(order.payment_ref, order.authorization, amount, refund_payment_key(command.refund_id))
        except DomainError:
            async with self.engine.begin() as conn:  # nothing moved: the key may be used again
                await refund_store.finish(conn, command.refund_id, status="failed")
            raise
        tax_back = await self._refund_tax(command, amount, totals.captured, documents)
        async with self.engine.begin() as conn:
            await refund_store.finish(conn, command.refund_id, status="succeeded", tax_refunded=tax_back)
            refunded = (await ledger.totals(conn, order.payment_ref)).refunded
            await order_store.append_event(
                conn, command.order_id, f"{command.refund_id}:refunded", "payment.refunded",
                to_status=status_after_refund(refunded, order.total),
                data={"refund_id": command.refund_id, "amount": amount, "reason": request.reason,
                      "actor": command.actor, "lines": [line.model_dump() for line in request.lines or []],
                      "tax_refunded": tax_back},
            )
            status = (await fulfillment_store.order_row(conn, command.order_id)).status
        log.info("refund issued", order_id=command.order_id, refund_id=command.refund_id, amount=amount)
        return self._result(command, amount, order.currency, tax_back, status)

    async def made(self, command: RefundCommand) -> RefundResult | None:
        """After issue_refund went unanswered: its result if the refund was made (recorded succeeded), else None."""
        async with self.engine.connect() as conn:
            existing = await refund_store.get(conn, command.refund_id)
            if existing is None or existing.status != "succeeded" or existing.request_hash != _request_hash(command):
                return None
            status = (await fulfillment_store.order_row(conn, command.order_id)).status
        return self._result(command, existing.amount, existing.currency, existing.tax_refunded, status)

    async def _refund_tax(self, command: RefundCommand, amount: int, captured: int, documents: list[str]) -> int:
        """Tell the tax engine, per committed document: by lines when known, else pro rata."""
        lines = [line.sku for line in command.request.lines or []]
        if command.request.include_shipping:
            lines.append("shipping")
        percent_bp = None if lines else min(10_000, amount * 10_000 // max(captured, 1))
        total = 0
        for index, shipment_id in enumerate(documents):
            refunded = await self.tax.refund(document_code=f"{command.order_id}:{shipment_id}",
                                             refund_code=f"{command.refund_id}:{index}",
                                             lines=lines or None, percent_bp=percent_bp)
            total += refunded.total
        return total

    @staticmethod
    def _result(command: RefundCommand, amount: int, currency: str, tax: int, status: str) -> RefundResult:
        return RefundResult(refund_id=command.refund_id, order_id=command.order_id, amount=amount, currency=currency,
                            tax_refunded=tax, order_status=status)


class SupportActivities:
    def __init__(self, refunds: RefundService):
        self.refunds = refunds

    @activity.defn
    @raises_business_errors
    async def issue_refund(self, command: RefundCommand) -> RefundResult:
        return await self.refunds.issue(command)

    @activity.defn
    @raises_business_errors
    async def refund_made(self, command: RefundCommand) -> RefundResult | None:
        return await self.refunds.made(command)
