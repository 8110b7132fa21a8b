"""What the warehouse prints: a parcel's packing slip and a location's pick list (rendered to PDF by
``adapters/packing_pdf.py``). No prices: a packing slip travels in the box."""

from __future__ import annotations

from datetime import datetime

from models.base import Frozen
from models.commerce import Address


class PackedItem(Frozen):
    sku: str
    title: str
    quantity: int


class PackingSlip(Frozen):
    shipment_id: str
    order_id: str
    order_date: datetime
    location_code: str
    ship_to: Address
    items: list[PackedItem]


class PickLine(Frozen):
    sku: str
    title: str
    quantity: int  # over every parcel waiting at the location
    shipment_ids: list[str]


class PickList(Frozen):
    location_code: str
    printed_at: datetime
    parcels: int
    lines: list[PickLine]


def pick_list(location_code: str, printed_at: datetime, rows: list[tuple[str, str, str, int]]) -> PickList:
    """rows: (shipment id, sku, title, quantity) of every parcel waiting to be packed at the location; one line
    per SKU, in SKU order (a walk through the shelves), naming the parcels it goes into."""
    lines: dict[str, PickLine] = {}
    for shipment_id, sku, title, quantity in sorted(rows, key=lambda row: (row[1], row[0])):
        line = lines.get(sku) or PickLine(sku=sku, title=title, quantity=0, shipment_ids=[])
        lines[sku] = line.model_copy(update={"quantity": line.quantity + quantity,
                                             "shipment_ids": [*line.shipment_ids, shipment_id]})
    return PickList(location_code=location_code, printed_at=printed_at,
                    parcels=len({row[0] for row in rows}), lines=list(lines.values()))
