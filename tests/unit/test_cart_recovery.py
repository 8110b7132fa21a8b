"""Abandoned-cart reminder emails and the workflow input, without I/O."""

import pytest
from pydantic import ValidationError

from models.cart_recovery import AbandonedCartInput, CartReminder, ReminderItem, cart_reminder_email
from models.unsubscribe import UnsubscribeLinks

CART = CartReminder(cart_id="cart_x", email="ada@example.com", currency="USD",
                    items=[ReminderItem(sku="TEE-M", title="Tee", quantity=2, unit_price=1250)])
LINKS = UnsubscribeLinks("unit-test-secret", "https://shop.example")


def test_reminder_lists_the_items_and_total_under_a_key_per_reminder():
    first = cart_reminder_email(CART, 1, last=False, links=LINKS)
    assert (first.to, first.subject, first.idempotency_key) == ("ada@example.com", "You left something in your cart",
                                                               "cart_x:cart_reminder:1")
    assert "2 × Tee (TEE-M)" in first.text and "25.00 USD" in first.text
    assert "<td>Total</td>" in first.html


def test_last_reminder_says_so():
    last = cart_reminder_email(CART, 3, last=True, links=LINKS)
    assert last.subject == "Last reminder: your cart" and "last reminder" in last.text
    assert cart_reminder_email(CART, 2, last=False, links=LINKS).idempotency_key != last.idempotency_key


def test_html_escapes_titles():
    odd = CART.model_copy(update={"items": [ReminderItem(sku="X", title="<b>x</b>", quantity=1, unit_price=1)]})
    assert "<b>x</b>" not in cart_reminder_email(odd, 1, last=False, links=LINKS).html


@pytest.mark.parametrize("delays", [(0, 10), (10, 5), (10, 10), (-1,)])
def test_delays_must_be_positive_and_increasing(delays):
    with pytest.raises(ValidationError):
        AbandonedCartInput(cart_id="cart_x", reminder_delays_seconds=delays)


def test_reminder_carries_one_click_unsubscribe_headers_and_a_visible_link():
    message = cart_reminder_email(CART, 1, last=False, links=LINKS)
    url = LINKS.url("ada@example.com")
    assert message.headers == {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert f"Unsubscribe from cart reminders: {url}" in message.text
    assert f'<a href="{url.replace("&", "&amp;")}">Unsubscribe from cart reminders</a>' in message.html
