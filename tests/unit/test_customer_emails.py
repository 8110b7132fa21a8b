"""The emails after the order: pure templates (text + HTML), keys, amounts and signed links."""

from models.cart_recovery import CartReminder, ReminderItem, cart_reminder_email
from models.customer_emails import (
    OrderNotice, RefundNotice, ReturnNotice, order_cancelled_email, refund_issued_email, return_approved_email,
    return_refunded_email,
)
from models.customer_tokens import CustomerTokens, StorefrontLinks
from models.notifications import ShipmentItem
from models.unsubscribe import UnsubscribeLinks

LINKS = StorefrontLinks(CustomerTokens("unit-secret-0123456789abcdef0123456789"), "https://shop.example/")


def a_return(**overrides) -> ReturnNotice:
    fields = dict(order_id="ord_1", rma_id="rma_2", email="ada@example.com", customer_name="Ada <L>",
                  items=[ShipmentItem(sku="TEE-M", title="Classic Tee", quantity=1)],
                  label_url="https://labels.local/abc.pdf", currency="USD")
    return ReturnNotice(**{**fields, **overrides})


def test_cancelled_says_nothing_was_charged_and_links_to_the_order():
    message = order_cancelled_email(OrderNotice(order_id="ord_1", email="ada@example.com", customer_name="Ada",
                                                currency="USD", total=7762), LINKS.order_url("ord_1"))
    assert (message.subject, message.idempotency_key) == ("Order ord_1 cancelled", "ord_1:order_cancelled")
    assert "Hi Ada, your order ord_1 has been cancelled." in message.text
    assert "Nothing was charged" in message.text
    url = f"https://shop.example/orders/ord_1?order_token={LINKS.tokens.order_token('ord_1')}"
    assert f"See your order: {url}" in message.text
    assert f'<a href="{url}">See your order</a>' in message.html


def test_cancelled_after_a_charge_says_how_much_comes_back():
    message = order_cancelled_email(OrderNotice(order_id="ord_1", email="a@b.example", currency="EUR", total=5000,
                                                refunded=1250))
    assert "12.50 EUR already charged is being refunded" in message.text
    assert "See your order" not in message.text, "no link without a storefront"


def test_refund_names_its_amount_once_per_refund():
    message = refund_issued_email(RefundNotice(order_id="ord_1", refund_id="rf_9", email="ada@example.com",
                                               amount=250, currency="USD"))
    assert message.subject == "Refund of 2.50 USD for order ord_1"
    assert message.idempotency_key == "ord_1:refund:rf_9"
    assert "we refunded 2.50 USD for your order ord_1" in message.text
    assert "<td>2.50 USD</td>" in message.html


def test_return_approved_carries_the_label_link_and_escapes_names():
    message = return_approved_email(a_return())
    assert message.idempotency_key == "ord_1:return_approved:rma_2"
    assert "Return label: https://labels.local/abc.pdf" in message.text
    assert '<a href="https://labels.local/abc.pdf">Return label</a>' in message.html
    assert "1 × Classic Tee (TEE-M)" in message.text
    assert "Ada &lt;L&gt;" in message.html and "Ada <L>" not in message.html


def test_return_approved_without_a_label_says_one_follows():
    message = return_approved_email(a_return(label_url=None))
    assert "Return label" not in message.text
    assert "send you the return label separately" in message.text


def test_return_refunded_names_the_amount():
    message = return_refunded_email(a_return(refund_amount=1350))
    assert message.subject == "Return rma_2 received: 13.50 USD refunded"
    assert message.idempotency_key == "ord_1:return_refunded:rma_2"
    assert "refunded 13.50 USD for order ord_1" in message.html


def test_cart_reminder_links_back_to_the_cart_before_the_unsubscribe_link():
    cart = CartReminder(cart_id="cart_1", email="ada@example.com", currency="USD",
                        items=[ReminderItem(sku="MUG", title="Mug", quantity=1, unit_price=900)])
    message = cart_reminder_email(cart, 1, last=False, cart_url=LINKS.cart_url("cart_1"),
                                  links=UnsubscribeLinks("unsub-secret-0123456789abcdef0123", "https://api.example"))
    url = f"https://shop.example/carts/cart_1?cart_token={LINKS.tokens.cart_token('cart_1')}"
    assert f"Back to your cart: {url}" in message.text
    assert message.text.index("Back to your cart") < message.text.index("Unsubscribe")
    assert f'<a href="{url}">Back to your cart</a>' in message.html
    assert LINKS.tokens.proves_cart("cart_1", url.rsplit("=", 1)[1])
