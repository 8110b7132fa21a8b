"""Draft orders: an order support builds for a customer (phone orders, invoices), as pure rules and values.

A draft holds a cart of its own, so its quote is the cart quote and its completion is a normal checkout of that
cart, through the same checkout workflow. States: open → invoiced → completed | cancelled (open → completed and
open → cancelled too). A draft whose checkout failed (declined card, price changed) is open again, or invoiced
if it had been: the customer or support may try once more.
"""

from typing import Literal

from pydantic import EmailStr, Field

from models.base import Frozen
from models.commerce import MAX_LINE_QUANTITY, Address
from models.customer_emails import _message
from models.errors import Conflict
from models.notifications import EmailMessage, _greeting, money
from models.quotes import MAX_QUOTE_CODES, Quote
from models.switches import ShippingMethod

DraftStatus = Literal["open", "invoiced", "completed", "cancelled"]
MAX_DRAFT_LINES = 100

# What each action may start from; anything else is refused with the code below.
_ALLOWED_FROM: dict[str, tuple[DraftStatus, ...]] = {
    "update": ("open", "invoiced"),
    "send_invoice": ("open", "invoiced"),
    "complete": ("open", "invoiced"),
    "cancel": ("open", "invoiced"),
}
_REFUSAL_CODES: dict[DraftStatus, str] = {"completed": "draft_already_completed", "cancelled": "draft_cancelled"}


def assert_may(action: str, status: DraftStatus) -> None:
    """``draft_already_completed`` / ``draft_cancelled`` (409) when ``action`` may not start from ``status``."""
    if status not in _ALLOWED_FROM[action]:
        raise Conflict(f"a {status} draft order cannot {action.replace('_', ' ')}",
                       code=_REFUSAL_CODES.get(status, "draft_illegal_transition"),
                       details={"status": status, "action": action})


def reopened_status(invoiced: bool) -> DraftStatus:
    """Where a draft returns when its checkout failed: the invoice stays valid, so an invoiced draft stays so."""
    return "invoiced" if invoiced else "open"


class DraftLine(Frozen):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=MAX_LINE_QUANTITY)


class DraftCreate(Frozen):
    lines: list[DraftLine] = Field(max_length=MAX_DRAFT_LINES, description="At least one (`draft_empty` otherwise)")
    email: EmailStr
    shipping_address: Address
    billing_address: Address | None = None
    shipping_speed: ShippingMethod = "standard"
    currency: str = Field("USD", min_length=3, max_length=3)
    discount_codes: list[str] = Field(default_factory=list, max_length=MAX_QUOTE_CODES)
    note: str = Field("", max_length=1000, description="Why support creates it (audited)")


class DraftUpdate(Frozen):
    """What changes; omitted fields stay. ``lines`` replaces every line."""

    lines: list[DraftLine] | None = Field(None, max_length=MAX_DRAFT_LINES)
    email: EmailStr | None = None
    shipping_address: Address | None = None
    billing_address: Address | None = None
    shipping_speed: ShippingMethod | None = None
    discount_codes: list[str] = Field(default_factory=list, max_length=MAX_QUOTE_CODES)
    note: str = Field("", max_length=1000)


class DraftOrder(Frozen):
    draft_id: str
    status: DraftStatus
    cart_id: str
    email: str
    shipping_address: Address
    billing_address: Address | None = None
    shipping_speed: str
    quote: Quote | None = Field(None, description="The cart quote (None while the quote services did not answer)")
    invoiced_total: int | None = Field(None, description="The total the invoice email stated")
    checkout_id: str | None = None
    order_id: str | None = Field(None, description="Once completed: the order the checkout places")
    checkout_status: str | None = Field(None, description="pending | completed | failed, once completed")
    last_checkout_error: str | None = Field(None, description="Why the previous checkout failed, if one did")


# ---------------------------------------------------------------- the invoice email
def invoice_workflow_id(draft_id: str, quote_id: str) -> str:
    """``DraftInvoiceWorkflow``'s id: one invoice per draft and quote."""
    return f"draft-invoice-{draft_id}-{quote_id}"


def invoice_kind(quote_id: str) -> str:
    """One invoice email per quote: sent again, it is the same message; a re-quoted draft may be invoiced anew."""
    return f"draft_invoice:{quote_id}"


class InvoiceRequest(Frozen):
    """What ``DraftInvoiceWorkflow`` mails: the invoice of this draft at this quote."""

    draft_id: str
    quote_id: str


class DraftInvoice(Frozen):
    draft_id: str
    quote_id: str
    email: str
    customer_name: str | None = None
    currency: str
    total: int
    lines: list[tuple[str, int, int]]  # (title, quantity, line total)
    pay_url: str


def draft_invoice_email(invoice: DraftInvoice) -> EmailMessage:
    total = money(invoice.total, invoice.currency)
    intro = f"{_greeting(invoice.customer_name)} here is the order we prepared for you: {total} in all."
    outro = "Follow the link to pay and place it; the order ships once paid."
    rows = [[f"{quantity} × {title}", money(amount, invoice.currency)] for title, quantity, amount in invoice.lines]
    return _message(invoice.email, f"Your order of {total} is ready to pay",
                    f"{invoice.draft_id}:{invoice_kind(invoice.quote_id)}", [intro, outro],
                    [*rows, ["Total", total]], (("Pay and place your order", invoice.pay_url),))


def invoice_url(base_url: str, draft_id: str, cart_token: str) -> str:
    """The storefront page the invoice opens; it sends ``cart_token`` as ``X-Cart-Token`` to
    ``POST /draft-orders/{draft_id}/checkout`` (the same signed token as the cart reminder links)."""
    return f"{base_url.rstrip('/')}/draft-orders/{draft_id}?cart_token={cart_token}"
