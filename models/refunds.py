"""Refund amounts: by amount, by lines (pro rata incl. their tax) and shipping, or the rest."""

from pydantic import Field, model_validator

from models.commerce import Frozen
from models.errors import DomainError
from models.money import percent_of
from models.fulfillment import OrderLineSnapshot
from models.order_state import OrderStatus


class RefundLine(Frozen):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=999)


class RefundRequest(Frozen):
    amount: int | None = Field(None, gt=0, description="Minor units; omit with no lines for a full refund")
    lines: list[RefundLine] | None = None
    include_shipping: bool = False
    fee: int = Field(0, ge=0, description="Deducted from a refund by lines, e.g. a restocking fee")
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _amount_or_lines(self) -> "RefundRequest":
        if self.amount is not None and self.lines:
            raise ValueError("give either an amount or lines, not both")
        if self.fee and not self.lines:
            raise ValueError("a fee applies to a refund by lines")
        return self


class RefundCommand(Frozen):
    """What the support workflow receives: the request plus the ids fixed by the API."""

    refund_id: str
    order_id: str
    request: RefundRequest
    actor: str | None = None


class RefundResult(Frozen):
    refund_id: str
    order_id: str
    amount: int
    currency: str
    tax_refunded: int
    order_status: str


def refund_amount(request: RefundRequest, lines: list[OrderLineSnapshot], *, shipping_total: int, shipping_tax: int,
                  refunded_quantities: dict[str, int], refundable: int) -> int:
    """The amount to give back, or a DomainError naming what is over the limit."""
    if request.amount is not None:
        amount = request.amount
    elif request.lines or request.include_shipping:
        by_sku = {line.sku: line for line in lines}
        amount = shipping_total + shipping_tax if request.include_shipping else 0
        for wanted in request.lines or []:
            line = by_sku.get(wanted.sku)
            if line is None:
                raise DomainError(f"{wanted.sku} is not on this order", code="refund_line_not_on_order")
            left = line.quantity - refunded_quantities.get(wanted.sku, 0)
            if wanted.quantity > left:
                raise DomainError(f"only {left} of {wanted.sku} can still be refunded", code="refund_exceeds_quantity",
                                  details={"sku": wanted.sku, "refundable_quantity": left})
            amount += (line.line_total + line.tax) * wanted.quantity // line.quantity
        amount -= request.fee
    else:
        amount = refundable
    if amount <= 0 or amount > refundable:
        raise DomainError(f"cannot refund {amount}: {refundable} is refundable", code="refund_exceeds_captured",
                          details={"requested": amount, "refundable": refundable})
    return amount


def status_after_refund(refunded_total: int, order_total: int) -> OrderStatus:
    return OrderStatus.REFUNDED if refunded_total >= order_total else OrderStatus.PARTIALLY_REFUNDED


def restocking_fee(amount: int, fee_bp: int, reasons: list[str], exempt_reasons: set[str]) -> int:
    """A percentage of the returned value, waived when any unit came back for an exempt reason
    (our fault: defective, wrong item)."""
    if fee_bp <= 0 or any(reason in exempt_reasons for reason in reasons):
        return 0
    return percent_of(amount, fee_bp)


def refund_payment_key(refund_id: str) -> str:
    """The ledger's (and provider's) idempotency key of a refund's money movement."""
    return f"{refund_id}:refund"


def refund_id_of(payment_key: str) -> str:
    """The refund a ledger refund's key belongs to (inverse of ``refund_payment_key``)."""
    return payment_key.removesuffix(":refund")
