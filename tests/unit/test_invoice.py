"""Invoice rendering: read the PDF's text back and find every amount exactly as recorded."""

import io
from datetime import UTC, datetime

from pypdf import PdfReader

from models.commerce import Address
from adapters.invoice_pdf import printable, render_invoice
from models.invoice import InvoiceData, InvoiceLine


def invoice(**overrides) -> InvoiceData:
    fields = dict(
        order_id="ord_abc", order_date=datetime(2030, 5, 1, 8, 0, tzinfo=UTC),
        invoice_date=datetime(2030, 5, 3, 16, 30, tzinfo=UTC), currency="EUR",
        seller_name="Zoë's Café GmbH", seller_address="Hauptstraße 1, 10115 Berlin, DE",
        customer_email="jose@example.com",
        ship_to=Address(name="José Núñez", line1="Calle Mayor 5", city="Sevilla", postal_code="41001", country="ES"),
        lines=[
            InvoiceLine(sku="TEE-BLK-M", title="Classic Tee — Black / M", quantity=2, unit_price=2500, discount=250,
                        tax=998, line_total=4750),
            InvoiceLine(sku="MUG", title="Crème brûlée mug", quantity=1, unit_price=1700, discount=0, tax=357,
                        line_total=1700),
        ],
        subtotal=6700, discount_total=250, tax_total=1355, shipping_total=599, total=8404,
    )
    return InvoiceData(**{**fields, **overrides})


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_every_line_amount_and_total_appears_exactly():
    text = text_of(render_invoice(invoice()))
    assert "Total 84.04 EUR" in text
    for expected in ("Subtotal 67.00 EUR", "Discount -2.50 EUR", "Tax 13.55 EUR", "Shipping 5.99 EUR"):
        assert expected in text
    assert "2 25.00 EUR -2.50 EUR 9.98 EUR 47.50 EUR" in text
    assert "1 17.00 EUR 0.00 EUR 3.57 EUR 17.00 EUR" in text


def test_header_names_seller_order_dates_and_parties_in_their_own_script():
    text = text_of(render_invoice(invoice()))
    for expected in ("Zoë's Café GmbH", "Hauptstraße 1", "Order: ord_abc", "Order date: 2030-05-01",
                     "Invoice date: 2030-05-03", "José Núñez", "jose@example.com", "Sevilla 41001",
                     "Classic Tee — Black / M", "Crème brûlée mug"):
        assert expected in text


def test_zero_exponent_currency_prints_whole_units():
    text = text_of(render_invoice(invoice(
        currency="JPY", lines=[InvoiceLine(sku="TEA", title="Matcha", quantity=3, unit_price=1200, discount=0, tax=360,
                                           line_total=3600)],
        subtotal=3600, discount_total=0, tax_total=360, shipping_total=0, total=3960)))
    assert "Total 3960 JPY" in text
    assert "3 1200 JPY 0 JPY 360 JPY 3600 JPY" in text


def test_rendering_is_deterministic():
    assert render_invoice(invoice()) == render_invoice(invoice())


def test_characters_outside_the_font_degrade_visibly_never_vanish():
    assert printable("Дмитрий Ελένη Łukasz") == "Дмитрий Ελένη Łukasz"
    assert printable("中村 ℌ") == "?? H"
    assert "Name: ??" in text_of(render_invoice(invoice(seller_address="Name: 中村")))
