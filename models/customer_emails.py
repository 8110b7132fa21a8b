"""What a customer hears after the order: cancelled, refunded, return approved and return refunded (pure
templates, plain text + HTML). Keys are ``<order_id>:<kind>`` like every order email, so a resend is the
same message (models/notifications.py). Links come in as arguments: models hold no secret and no URL.
"""

from __future__ import annotations

from datetime import date

from models.base import Frozen
from models.notifications import (
    ORDER_LINK_TEXT, EmailMessage, ShipmentItem, _greeting, _html, idempotency_key, money,
)

CANCELLED = "order_cancelled"


def refund_kind(refund_id: str) -> str:
    return f"refund:{refund_id}"


def return_approved_kind(rma_id: str) -> str:
    return f"return_approved:{rma_id}"


def return_refunded_kind(rma_id: str) -> str:
    return f"return_refunded:{rma_id}"


def exchange_payment_failed_kind(rma_id: str) -> str:
    return f"exchange_payment_failed:{rma_id}"


class OrderNotice(Frozen):
    order_id: str
    email: str
    customer_name: str | None = None
    currency: str
    total: int
    refunded: int = 0  # of the order's captured money, given back so far


class RefundNotice(Frozen):
    order_id: str
    refund_id: str
    email: str
    customer_name: str | None = None
    amount: int
    currency: str


class ReturnNotice(Frozen):
    order_id: str
    rma_id: str
    email: str
    customer_name: str | None = None
    items: list[ShipmentItem]
    label_url: str | None = None
    tracking_code: str | None = None
    refund_amount: int | None = None
    currency: str


def _message(to: str, subject: str, key: str, paragraphs: list[str], rows: list[list[str]],
             links: tuple[tuple[str, str], ...] = ()) -> EmailMessage:
    """Text and HTML saying the same: the first paragraph, the rows, the other paragraphs, then the links."""
    text_rows = [f"  {'  '.join(row)}" for row in rows]
    text = [paragraphs[0], *([""] + text_rows if rows else []), *(["", *paragraphs[1:]] if paragraphs[1:] else []),
            *(f"{label}: {url}" for label, url in links)]
    return EmailMessage(to=to, subject=subject, text="\n".join(text) + "\n", html=_html(paragraphs, rows, links),
                        idempotency_key=key)


def _order_link(url: str | None) -> tuple[tuple[str, str], ...]:
    return ((ORDER_LINK_TEXT, url),) if url else ()


def order_cancelled_email(order: OrderNotice, order_url: str | None = None) -> EmailMessage:
    intro = f"{_greeting(order.customer_name)} your order {order.order_id} has been cancelled."
    money_said = (f"{money(order.refunded, order.currency)} already charged is being refunded to your card."
                  if order.refunded else "Nothing was charged; the hold on your card is released.")
    return _message(order.email, f"Order {order.order_id} cancelled", idempotency_key(order.order_id, CANCELLED),
                    [intro, money_said], [], _order_link(order_url))


def refund_issued_email(refund: RefundNotice, order_url: str | None = None) -> EmailMessage:
    amount = money(refund.amount, refund.currency)
    intro = f"{_greeting(refund.customer_name)} we refunded {amount} for your order {refund.order_id}."
    outro = "It goes back to the card you paid with; your bank may take a few days to show it."
    return _message(refund.email, f"Refund of {amount} for order {refund.order_id}",
                    idempotency_key(refund.order_id, refund_kind(refund.refund_id)), [intro, outro],
                    [["Refund", refund.refund_id], ["Amount", amount]], _order_link(order_url))


def _items(notice: ReturnNotice) -> list[list[str]]:
    return [[f"{item.quantity} × {item.title} ({item.sku})"] for item in notice.items]


def return_approved_email(notice: ReturnNotice) -> EmailMessage:
    intro = f"{_greeting(notice.customer_name)} your return {notice.rma_id} for order {notice.order_id} is approved."
    how = ("Print the return label below, stick it on the parcel and hand it to the carrier."
           if notice.label_url else "We will send you the return label separately.")
    links = (("Return label", notice.label_url),) if notice.label_url else ()
    return _message(notice.email, f"Return {notice.rma_id} approved: your return label",
                    idempotency_key(notice.order_id, return_approved_kind(notice.rma_id)), [intro, how],
                    _items(notice), links)


def return_refunded_email(notice: ReturnNotice) -> EmailMessage:
    amount = money(notice.refund_amount or 0, notice.currency)
    intro = (f"{_greeting(notice.customer_name)} we received your return {notice.rma_id} and refunded {amount} "
             f"for order {notice.order_id}.")
    outro = "It goes back to the card you paid with; your bank may take a few days to show it."
    return _message(notice.email, f"Return {notice.rma_id} received: {amount} refunded",
                    idempotency_key(notice.order_id, return_refunded_kind(notice.rma_id)), [intro, outro],
                    _items(notice))


def exchange_payment_failed_email(notice: ReturnNotice) -> EmailMessage:
    intro = (f"{_greeting(notice.customer_name)} we received your return {notice.rma_id} for order "
             f"{notice.order_id}, but your card declined the price difference of the exchange you chose.")
    outro = "The replacement has not been sent. Our support team will contact you about paying or a refund instead."
    return _message(notice.email, f"Return {notice.rma_id}: payment for your exchange declined",
                    idempotency_key(notice.order_id, exchange_payment_failed_kind(notice.rma_id)), [intro, outro],
                    _items(notice))


class RenewalNotice(Frozen):
    subscription_id: str
    cycle: int
    email: str
    customer_name: str | None = None
    renewal_date: date
    items: list[ShipmentItem]


def renewal_reminder_key(subscription_id: str, cycle: int) -> str:
    return f"{subscription_id}:cycle-{cycle}:renewal-reminder"


def renewal_upcoming_email(notice: RenewalNotice) -> EmailMessage:
    day = notice.renewal_date.isoformat()
    intro = f"{_greeting(notice.customer_name)} your subscription {notice.subscription_id} renews on {day}."
    outro = ("We will charge your saved card then and ship the items below. To skip this delivery, pause or "
             "cancel, change your subscription before that day.")
    rows = [[f"{item.quantity} × {item.title} ({item.sku})"] for item in notice.items]
    return _message(notice.email, f"Your subscription renews on {day}",
                    renewal_reminder_key(notice.subscription_id, notice.cycle), [intro, outro], rows)


def order_edited_kind(edit_id: str) -> str:
    return f"order_edited:{edit_id}"


class OrderEditedNotice(Frozen):
    order_id: str
    edit_id: str
    email: str
    customer_name: str | None = None
    currency: str
    previous_total: int
    total: int
    items: list[ShipmentItem]  # the order's lines after the edit
    shipping_address: str  # one line


def order_edited_email(notice: OrderEditedNotice, order_url: str | None = None) -> EmailMessage:
    """Support changed the order: what it holds now, where it goes, and what that does to the payment."""
    intro = f"{_greeting(notice.customer_name)} your order {notice.order_id} was changed at your request."
    before, after = money(notice.previous_total, notice.currency), money(notice.total, notice.currency)
    if notice.total < notice.previous_total:
        money_said = f"Its total is now {after} (was {before}); you will not be charged the difference."
    elif notice.total > notice.previous_total:
        money_said = f"Its total is now {after} (was {before}); the hold on your card was raised accordingly."
    else:
        money_said = f"Its total stays {after}."
    rows = [[f"{item.quantity} × {item.title} ({item.sku})"] for item in notice.items]
    return _message(notice.email, f"Order {notice.order_id} changed",
                    idempotency_key(notice.order_id, order_edited_kind(notice.edit_id)),
                    [intro, money_said, f"It ships to {notice.shipping_address}."], rows, _order_link(order_url))
