"""Packing slip and pick list PDFs (models/packing.py), set like the invoice (``adapters/invoice_pdf.py``: its
font and its fallback for characters the font lacks). Pure: same data, same bytes."""

from __future__ import annotations

import ttf_opensans
from fpdf import FPDF, FontFace

# The invoice's typesetting helpers, shared so that every document the store prints looks alike.
from adapters.invoice_pdf import FONT, printable
from adapters.invoice_pdf import _address_lines as address_lines
from adapters.invoice_pdf import _text as text
from models.packing import PackingSlip, PickList


def _new_pdf(title: str, created) -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(created)  # the clock would make every print differ
    pdf.set_title(title)
    pdf.add_font(FONT, "", str(ttf_opensans.OPENSANS_REGULAR.path))
    pdf.add_font(FONT, "B", str(ttf_opensans.OPENSANS_BOLD.path))
    pdf.set_margins(10, 12, 10)
    pdf.add_page()
    return pdf


def _table(pdf: FPDF, widths: tuple[int, ...], heading: tuple[str, ...], rows: list[list[str]]) -> None:
    pdf.set_font(FONT, "", 10)
    with pdf.table(col_widths=widths, line_height=6, padding=1, headings_style=FontFace(emphasis="BOLD")) as table:
        table.row(heading)
        for row in rows:
            table.row([printable(cell) for cell in row])


def render_packing_slip(slip: PackingSlip) -> bytes:
    pdf = _new_pdf(f"Packing slip {slip.shipment_id}", slip.order_date)
    text(pdf, "Packing slip", size=18, bold=True, height=9)
    text(pdf, f"Order {slip.order_id} of {slip.order_date:%Y-%m-%d}")
    text(pdf, f"Parcel {slip.shipment_id}, from {slip.location_code}")
    pdf.ln(3)
    text(pdf, "Ship to", bold=True)
    for line in address_lines(slip.ship_to):
        text(pdf, line)
    pdf.ln(4)
    _table(pdf, (40, 120, 30), ("SKU", "Item", "Quantity"),
           [[item.sku, item.title, str(item.quantity)] for item in slip.items])
    return bytes(pdf.output())


def render_pick_list(picks: PickList) -> bytes:
    pdf = _new_pdf(f"Pick list {picks.location_code}", picks.printed_at)
    text(pdf, f"Pick list: {picks.location_code}", size=18, bold=True, height=9)
    text(pdf, f"{picks.parcels} parcel(s) waiting, printed {picks.printed_at:%Y-%m-%d %H:%M} UTC")
    pdf.ln(4)
    _table(pdf, (35, 70, 20, 65), ("SKU", "Item", "Pick", "For parcels"),
           [[line.sku, line.title, str(line.quantity), ", ".join(line.shipment_ids)] for line in picks.lines])
    return bytes(pdf.output())
