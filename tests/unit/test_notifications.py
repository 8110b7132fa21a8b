"""Email templates and the message's MIME form: pure functions, no fixtures."""

from datetime import UTC, datetime
from email import message_from_bytes, policy

from models.notifications import (
    ConfirmationLine, EmailMessage, OrderConfirmation, ShipmentItem, ShipmentNotice, delivered_email, message_id,
    order_confirmation_email, shipped_email, to_mime, tracking_url,
)

SENDER = "orders@shop.example"
WHEN = datetime(2030, 5, 17, 9, 30, tzinfo=UTC)


def confirmation(**overrides) -> OrderConfirmation:
    fields = dict(
        order_id="ord_1", email="ada@example.com", customer_name="Ada <Lovelace>", currency="USD",
        lines=[ConfirmationLine(sku="TEE-M", title="Classic Tee", quantity=2, unit_price=2500, line_total=5000),
               ConfirmationLine(sku="MUG", title="Trail Mug & Co", quantity=1, unit_price=1805, discount=5,
                                line_total=1800)],
        subtotal=6805, discount_total=5, tax_total=363, shipping_total=599, total=7762,
    )
    return OrderConfirmation(**{**fields, **overrides})


def notice(**overrides) -> ShipmentNotice:
    fields = dict(order_id="ord_1", shipment_id="shp_9", email="ada@example.com", customer_name="Ada",
                  carrier="UPS", tracking_code="1Z999", tracking_url=tracking_url("UPS", "1Z999"),
                  items=[ShipmentItem(sku="TEE-M", title="Classic Tee", quantity=2)])
    return ShipmentNotice(**{**fields, **overrides})


def test_confirmation_shows_every_amount_in_major_units():
    message = order_confirmation_email(confirmation())
    assert message.subject == "Order ord_1 confirmed"
    assert message.to == "ada@example.com"
    assert message.idempotency_key == "ord_1:order_confirmation"
    for expected in ("2 × Classic Tee (TEE-M)  50.00 USD", "18.00 USD", "Subtotal: 68.05 USD",
                     "Discount: -0.05 USD", "Tax: 3.63 USD", "Shipping: 5.99 USD", "Total: 77.62 USD"):
        assert expected in message.text


def test_confirmation_uses_the_currency_exponent_and_hides_a_zero_discount():
    message = order_confirmation_email(confirmation(
        currency="JPY", lines=[ConfirmationLine(sku="T", title="Tea", quantity=1, unit_price=1500, line_total=1500)],
        subtotal=1500, discount_total=0, tax_total=150, shipping_total=0, total=1650))
    assert "Total: 1650 JPY" in message.text
    assert "Discount" not in message.text


def test_html_body_escapes_customer_and_catalog_text():
    html = order_confirmation_email(confirmation()).html
    assert "Ada &lt;Lovelace&gt;" in html and "<Lovelace>" not in html
    assert "Trail Mug &amp; Co" in html
    assert "77.62 USD" in html


def test_shipped_email_names_carrier_tracking_and_the_parcel_items():
    message = shipped_email(notice())
    assert message.idempotency_key == "ord_1:shipped:shp_9"
    assert "Carrier: UPS" in message.text
    assert "Tracking code: 1Z999" in message.text
    assert "Track it: https://www.ups.com/track?tracknum=1Z999" in message.text
    assert "2 × Classic Tee (TEE-M)" in message.text


def test_shipped_email_without_a_known_tracking_page_leaves_the_link_out():
    message = shipped_email(notice(carrier="LocalPost", tracking_url=tracking_url("LocalPost", "LP1")))
    assert "Track it" not in message.text


def test_delivered_email_is_keyed_per_shipment():
    message = delivered_email(notice())
    assert message.idempotency_key == "ord_1:delivered:shp_9"
    assert message.subject == "Your order ord_1 was delivered"


def test_message_id_is_stable_per_key_and_distinct_across_keys():
    assert message_id("ord_1:order_confirmation", SENDER) == message_id("ord_1:order_confirmation", SENDER)
    assert message_id("ord_1:order_confirmation", SENDER) != message_id("ord_1:shipped:shp_9", SENDER)
    assert message_id("k", SENDER).endswith("@shop.example>")


def test_mime_form_carries_both_bodies_and_keeps_sender_headers_authoritative():
    message = EmailMessage(to="ada@example.com", subject="Hi", text="plain", html="<p>rich</p>",
                           idempotency_key="ord_1:x", headers={"Reply-To": "help@shop.example", "From": "evil@x"})
    parsed = message_from_bytes(to_mime(message, sender=SENDER, date=WHEN).as_bytes(), policy=policy.default)
    assert parsed["From"] == SENDER
    assert parsed["Reply-To"] == "help@shop.example"
    assert parsed["Message-ID"] == message_id("ord_1:x", SENDER)
    assert parsed["X-Orderflow-Idempotency-Key"] == "ord_1:x"
    assert parsed.get_body(("plain",)).get_content().strip() == "plain"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>rich</p>"
