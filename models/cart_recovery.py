"""Abandoned-cart reminders: the workflow's input and the reminder email template (pure).

Each reminder is keyed ``<cart_id>:cart_reminder:<n>``; like order notifications its Message-ID
derives from that key, so a resend is recognisably the same message.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from models.base import Frozen
from models.notifications import EmailMessage, _html, money
from models.unsubscribe import UnsubscribeLinks

SUBJECTS = {1: "You left something in your cart", 2: "Your cart is still waiting for you"}
LAST_SUBJECT = "Last reminder: your cart"
UNSUBSCRIBE_TEXT = "Unsubscribe from cart reminders"
BACK_TO_CART_TEXT = "Back to your cart"


class AbandonedCartInput(Frozen):
    """Start of ``AbandonedCartWorkflow`` (id ``cart-<cart_id>``): reminders this long after the start."""

    cart_id: str
    reminder_delays_seconds: tuple[int, ...] = (3600, 24 * 3600, 72 * 3600)

    @field_validator("reminder_delays_seconds")
    @classmethod
    def _increasing(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(d <= 0 for d in value) or list(value) != sorted(set(value)):
            raise ValueError("reminder delays must be positive and increasing")
        return value


class ReminderItem(Frozen):
    sku: str
    title: str
    quantity: int
    unit_price: int


class CartReminder(Frozen):
    cart_id: str
    email: str
    currency: str
    items: list[ReminderItem] = Field(min_length=1)

    @property
    def total(self) -> int:
        return sum(item.unit_price * item.quantity for item in self.items)


def reminder_key(cart_id: str, reminder: int) -> str:
    return f"{cart_id}:cart_reminder:{reminder}"


def cart_reminder_email(cart: CartReminder, reminder: int, *, last: bool, links: UnsubscribeLinks,
                        cart_url: str | None = None) -> EmailMessage:
    """The ``reminder``-th nudge (1-based); ``last`` says no more will follow. ``cart_url``: the storefront's
    cart page, signed with the cart token, so the shopper gets back to this very cart.

    Marketing email: it carries a signed unsubscribe link in the body and in the List-Unsubscribe headers.
    """
    subject = LAST_SUBJECT if last and reminder > 1 else SUBJECTS.get(reminder, SUBJECTS[2])
    intro = "Hello, the items below are still in your cart."
    outro = ("This is the last reminder we will send about this cart." if last
             else "Come back any time to finish your order; prices are checked again at checkout.")
    rows = [[f"{item.quantity} × {item.title} ({item.sku})", money(item.unit_price * item.quantity, cart.currency)]
            for item in cart.items]
    rows.append(["Total", money(cart.total, cart.currency)])
    unsubscribe = links.url(cart.email)
    back = ((BACK_TO_CART_TEXT, cart_url),) if cart_url else ()
    text = "\n".join([intro, "", *(f"  {a}  {b}" for a, b in rows), "", outro, "",
                      *(f"{label}: {url}" for label, url in back), f"{UNSUBSCRIBE_TEXT}: {unsubscribe}"])
    return EmailMessage(to=cart.email, subject=subject, text=text + "\n",
                        html=_html([intro, outro], rows, links=(*back, (UNSUBSCRIBE_TEXT, unsubscribe))),
                        idempotency_key=reminder_key(cart.cart_id, reminder), headers=links.headers(cart.email))
