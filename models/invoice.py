"""What an invoice says: the plain data of an order's invoice (rendered to PDF by ``adapters/invoice_pdf.py``).

Amounts are integer minor units of ``currency``.
"""

from __future__ import annotations

from datetime import datetime

from models.base import Frozen
from models.commerce import Address


class InvoiceLine(Frozen):
    sku: str
    title: str
    quantity: int
    unit_price: int
    discount: int
    tax: int
    line_total: int


class InvoiceData(Frozen):
    order_id: str
    order_date: datetime
    invoice_date: datetime  # first successful capture
    currency: str
    seller_name: str
    seller_address: str = ""
    customer_email: str
    ship_to: Address
    lines: list[InvoiceLine]
    subtotal: int
    discount_total: int
    tax_total: int
    shipping_total: int
    total: int
