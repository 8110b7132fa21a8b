"""Invoice PDF for an order, rendered from plain data by a pure function (same data, same bytes).

Text is set in Open Sans (shipped by the ``ttf-opensans`` package, read from disk, embedded and subset by
fpdf2), which covers Latin, Greek and Cyrillic names and the € £ ¥ signs. A character the font lacks is
reduced to its base letters (NFKD) or, failing that, printed as "?" rather than silently dropped.
Amounts are printed as "12.34 USD" with the currency's exponent, like ``Money.__str__``.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import ttf_opensans
from fontTools.ttLib import TTFont
from fpdf import FPDF, FontFace
from fpdf.enums import XPos, YPos

from models.commerce import Address
from models.invoice import InvoiceData
from models.notifications import money

FONT = "OpenSans"
COLUMNS = ("SKU", "Item", "Qty", "Unit price", "Discount", "Tax", "Line total")
COLUMN_WIDTHS = (26, 60, 12, 23, 22, 21, 26)  # mm, 190 in all: A4 less 10 mm margins
COLUMN_ALIGN = ("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")


@lru_cache(maxsize=1)
def _glyphs() -> frozenset[int]:
    return frozenset(TTFont(str(ttf_opensans.OPENSANS_REGULAR.path)).getBestCmap())


def printable(text: str) -> str:
    """``text`` with every character the font cannot draw replaced by its base letters or "?"."""
    glyphs, out = _glyphs(), []
    for char in text:
        if ord(char) in glyphs:
            out.append(char)
            continue
        decomposed = unicodedata.normalize("NFKD", char)
        base = "".join(c for c in decomposed if ord(c) in glyphs and not unicodedata.combining(c))
        out.append(base or "?")
    return "".join(out)


def _address_lines(address: Address) -> list[str]:
    city = " ".join(part for part in (address.city, address.region, address.postal_code) if part)
    return [line for line in (address.name, address.line1, address.line2, city, address.country) if line]


def _new_pdf(data: InvoiceData) -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(data.invoice_date)  # the clock would make every download differ
    pdf.set_title(f"Invoice {data.order_id}")
    pdf.set_author(printable(data.seller_name))
    pdf.add_font(FONT, "", str(ttf_opensans.OPENSANS_REGULAR.path))
    pdf.add_font(FONT, "B", str(ttf_opensans.OPENSANS_BOLD.path))
    pdf.set_margins(10, 12, 10)
    pdf.add_page()
    return pdf


def _text(pdf: FPDF, text: str, *, size: float = 10, bold: bool = False, height: float = 5, **cell) -> None:
    pdf.set_font(FONT, "B" if bold else "", size)
    pdf.cell(text=printable(text), h=height, new_x=XPos.LMARGIN, new_y=YPos.NEXT, **cell)


def _header(pdf: FPDF, data: InvoiceData) -> None:
    _text(pdf, data.seller_name, size=14, bold=True, height=7)
    if data.seller_address:
        _text(pdf, data.seller_address)
    pdf.ln(4)
    _text(pdf, "Invoice", size=18, bold=True, height=9)
    _text(pdf, f"Order: {data.order_id}")
    _text(pdf, f"Order date: {data.order_date:%Y-%m-%d}")
    _text(pdf, f"Invoice date: {data.invoice_date:%Y-%m-%d}")
    pdf.ln(4)


def _parties(pdf: FPDF, data: InvoiceData) -> None:
    # No billing address is collected at checkout: bill to the customer by name and email.
    top = pdf.get_y()
    for x, title, lines in ((10, "Bill to", [data.ship_to.name, data.customer_email]),
                            (105, "Ship to", _address_lines(data.ship_to))):
        pdf.set_xy(x, top)
        pdf.set_font(FONT, "B", 10)
        pdf.cell(text=title, h=5, new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_font(FONT, "", 10)
        for line in lines:
            pdf.cell(text=printable(line), h=5, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_xy(10, top + 5 * 6 + 4)


def _lines(pdf: FPDF, data: InvoiceData) -> None:
    cur = data.currency
    pdf.set_font(FONT, "", 9)
    with pdf.table(col_widths=COLUMN_WIDTHS, text_align=COLUMN_ALIGN, line_height=5, padding=1,
                   headings_style=FontFace(emphasis="BOLD")) as table:
        table.row(COLUMNS)
        for line in data.lines:
            table.row([printable(line.sku), printable(line.title), str(line.quantity), money(line.unit_price, cur),
                       money(-line.discount if line.discount else 0, cur), money(line.tax, cur),
                       money(line.line_total, cur)])
    pdf.ln(4)


def _totals(pdf: FPDF, data: InvoiceData) -> None:
    cur = data.currency
    rows = [("Subtotal", data.subtotal), ("Discount", -data.discount_total if data.discount_total else 0),
            ("Tax", data.tax_total), ("Shipping", data.shipping_total), ("Total", data.total)]
    for label, amount in rows:
        bold = label == "Total"
        pdf.set_font(FONT, "B" if bold else "", 11 if bold else 10)
        pdf.set_x(120)
        pdf.cell(w=40, h=6, text=label)
        pdf.cell(w=40, h=6, text=money(amount, cur), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def render_invoice(data: InvoiceData) -> bytes:
    pdf = _new_pdf(data)
    _header(pdf, data)
    _parties(pdf, data)
    _lines(pdf, data)
    _totals(pdf, data)
    return bytes(pdf.output())
