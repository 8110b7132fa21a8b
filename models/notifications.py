"""Customer emails as data: the message, its MIME form and pure templates (no I/O, no clock).

Every message carries an idempotency key ``<order_id>:<kind>``; its ``Message-ID`` is derived from
that key, so the same notification sent twice is recognisably one message to mail clients and to us.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime
from html import escape

from pydantic import Field

from models.base import Frozen
from models.money import Money

CONFIRMATION = "order_confirmation"
ORDER_LINK_TEXT = "See your order"
# Headers the sender sets itself; a message's own headers may not override them.
RESERVED_HEADERS = {"from", "to", "subject", "message-id", "date", "mime-version", "content-type"}
# URL headers (RFC 2369) written as they are: folding would turn a long URL into RFC 2047 encoded words,
# which mail clients do not read as a List-Unsubscribe URL. Their values must be plain ASCII.
VERBATIM_HEADERS = {"list-unsubscribe", "list-unsubscribe-post"}
TRACKING_URLS = {
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={code}",
    "ups": "https://www.ups.com/track?tracknum={code}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={code}",
    "dhl": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={code}",
}


class EmailMessage(Frozen):
    to: str = Field(min_length=3, max_length=320)
    subject: str = Field(min_length=1, max_length=300)
    text: str
    html: str | None = None
    idempotency_key: str = Field(min_length=1, max_length=300)
    headers: dict[str, str] = Field(default_factory=dict)


class ConfirmationLine(Frozen):
    sku: str
    title: str
    quantity: int
    unit_price: int
    discount: int = 0
    line_total: int


class OrderConfirmation(Frozen):
    order_id: str
    email: str
    customer_name: str | None = None
    currency: str
    lines: list[ConfirmationLine]
    subtotal: int
    discount_total: int
    tax_total: int
    shipping_total: int
    total: int


class ShipmentItem(Frozen):
    sku: str
    title: str
    quantity: int


class ShipmentNotice(Frozen):
    """What the shipped and delivered emails say about one shipment of an order."""

    order_id: str
    shipment_id: str
    email: str
    customer_name: str | None = None
    carrier: str | None = None
    tracking_code: str | None = None
    tracking_url: str | None = None
    items: list[ShipmentItem]


def shipped_kind(shipment_id: str) -> str:
    return f"shipped:{shipment_id}"


def delivered_kind(shipment_id: str) -> str:
    return f"delivered:{shipment_id}"


def idempotency_key(order_id: str, kind: str) -> str:
    return f"{order_id}:{kind}"


def money(amount: int, currency: str) -> str:
    return str(Money(amount=amount, currency=currency))


def tracking_url(carrier: str | None, tracking_code: str | None) -> str | None:
    """The carrier's public tracking page, for the carriers we know; None otherwise."""
    template = TRACKING_URLS.get((carrier or "").strip().lower())
    return template.format(code=tracking_code) if template and tracking_code else None


def message_id(key: str, sender: str) -> str:
    """A stable RFC 5322 Message-ID for an idempotency key (hashed: keys may hold any character)."""
    domain = sender.rpartition("@")[2] or "orderflow.local"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}.orderflow@{domain}>"


def to_mime(message: EmailMessage, *, sender: str, date: datetime) -> MimeMessage:
    """The RFC 5322 form: text body, optional HTML alternative, our Message-ID and the key header."""
    mime = MimeMessage()
    mime["From"], mime["To"], mime["Subject"] = sender, message.to, message.subject
    mime["Date"] = format_datetime(date)
    mime["Message-ID"] = message_id(message.idempotency_key, sender)
    mime["X-Orderflow-Idempotency-Key"] = message.idempotency_key
    for name, value in sorted(message.headers.items()):
        if name.lower() in VERBATIM_HEADERS:
            mime[name] = _VerbatimHeader(name, value)
        elif name.lower() not in RESERVED_HEADERS:
            mime[name] = value
    mime.set_content(message.text)
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    return mime


class _VerbatimHeader:
    """A header the generator writes unfolded (``email.policy`` calls ``fold`` on values with a ``name``)."""

    def __init__(self, name: str, value: str):
        line = f"{name}: {value}"
        if not value.isascii() or not value.isprintable() or len(line) > 998:  # RFC 5322 line limit
            raise ValueError(f"{name} must be printable ASCII on one line of at most 998 characters")
        self.name, self.value = name, value

    def fold(self, *, policy) -> str:
        return f"{self.name}: {self.value}{policy.linesep}"

    def __str__(self) -> str:
        return self.value


def _greeting(name: str | None) -> str:
    return f"Hi {name}," if name else "Hello,"


def _html(paragraphs: list[str], table_rows: list[list[str]], links: tuple[tuple[str, str], ...] = ()) -> str:
    """A plain HTML body: escaped paragraphs around a table (cells escaped here too), then (text, url) links."""
    rows = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in table_rows)
    head, tail = paragraphs[:1], paragraphs[1:]
    body = "".join(f"<p>{escape(p)}</p>" for p in head) + f"<table>{rows}</table>"
    body += "".join(f"<p>{escape(p)}</p>" for p in tail)
    body += "".join(f'<p><a href="{escape(url)}">{escape(text)}</a></p>' for text, url in links)
    return f"<!DOCTYPE html><html><body>{body}</body></html>"


def _totals(order: OrderConfirmation) -> list[tuple[str, int]]:
    rows = [("Subtotal", order.subtotal)]
    if order.discount_total:
        rows.append(("Discount", -order.discount_total))
    return rows + [("Tax", order.tax_total), ("Shipping", order.shipping_total), ("Total", order.total)]


def order_confirmation_email(order: OrderConfirmation, order_url: str | None = None) -> EmailMessage:
    """``order_url``: the storefront's page of the order, signed with the guest order token."""
    cur = order.currency
    lines = [[f"{line.quantity} × {line.title} ({line.sku})", money(line.line_total, cur)] for line in order.lines]
    totals = [[label, money(amount, cur)] for label, amount in _totals(order)]
    intro = f"{_greeting(order.customer_name)} thank you for your order {order.order_id}."
    outro = "We will email you again when it ships."
    link = ((ORDER_LINK_TEXT, order_url),) if order_url else ()
    text = "\n".join([intro, "", *(f"  {a}  {b}" for a, b in lines), "", *(f"{a}: {b}" for a, b in totals),
                      "", outro, *(f"{label}: {url}" for label, url in link)])
    return EmailMessage(
        to=order.email, subject=f"Order {order.order_id} confirmed", text=text + "\n",
        html=_html([intro, outro], lines + totals, link),
        idempotency_key=idempotency_key(order.order_id, CONFIRMATION),
    )


def _items(notice: ShipmentNotice) -> list[list[str]]:
    return [[f"{item.quantity} × {item.title} ({item.sku})"] for item in notice.items]


def shipped_email(notice: ShipmentNotice) -> EmailMessage:
    # An order may ship in several parcels, so the email speaks of this one and lists its items.
    intro = f"{_greeting(notice.customer_name)} a parcel from your order {notice.order_id} is on its way."
    tracking = [f"Carrier: {notice.carrier or 'our carrier'}", f"Tracking code: {notice.tracking_code or '-'}"]
    if notice.tracking_url:
        tracking.append(f"Track it: {notice.tracking_url}")
    items = _items(notice)
    text = "\n".join([intro, "", *(f"  {row[0]}" for row in items), "", *tracking])
    return EmailMessage(
        to=notice.email, subject=f"Your order {notice.order_id} has shipped", text=text + "\n",
        html=_html([intro, *tracking], items),
        idempotency_key=idempotency_key(notice.order_id, shipped_kind(notice.shipment_id)),
    )


def delivered_email(notice: ShipmentNotice) -> EmailMessage:
    intro = f"{_greeting(notice.customer_name)} your parcel from order {notice.order_id} was delivered."
    outro = "Something wrong with it? Reply to this email and we will sort it out."
    items = _items(notice)
    text = "\n".join([intro, "", *(f"  {row[0]}" for row in items), "", outro])
    return EmailMessage(
        to=notice.email, subject=f"Your order {notice.order_id} was delivered", text=text + "\n",
        html=_html([intro, outro], items),
        idempotency_key=idempotency_key(notice.order_id, delivered_kind(notice.shipment_id)),
    )
