"""Inventory administration rules, pure: the stock list across SKUs and locations, the inventory report
and the parsing of bulk stock counts (CSV).

A SKU is below its reorder point when its total ATP (over every location, each floored at 0, as the
low-stock alerts count it) is at or below a reorder point above 0; every row of that SKU says so.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from models.inventory import INT_MAX, StockLevel

STOCK_CSV_COLUMNS = ["sku", "location", "on_hand", "reserved", "safety_stock", "inbound_transfers",
                     "outbound_transfers", "atp", "sku_atp", "reorder_point", "below_reorder_point"]
COUNT_COLUMNS = ("sku", "location", "on_hand")  # required; safety_stock and reorder_point are optional
MAX_COUNT_ROWS = 10_000


class StockRow(BaseModel):
    sku: str
    location: str = Field(description="The location's code")
    on_hand: int
    reserved: int
    safety_stock: int
    inbound_transfers: int
    outbound_transfers: int
    atp: int
    sku_atp: int = Field(description="The SKU's ATP over every location")
    reorder_point: int
    below_reorder_point: bool

    def csv_row(self) -> list:
        return [getattr(self, column) for column in STOCK_CSV_COLUMNS]


def is_below_reorder_point(total_atp: int, reorder_point: int) -> bool:
    """As db.stock_alerts decides: a reorder point of 0 means no alerts."""
    return reorder_point > 0 and total_atp <= reorder_point


def stock_rows(levels: Iterable[tuple[StockLevel, str, int]]) -> list[StockRow]:
    """levels: (stock level, location code, the SKU's reorder point) for every stock row of the SKUs listed."""
    levels = list(levels)
    totals: dict[str, int] = {}
    for level, _, _ in levels:
        totals[level.sku] = totals.get(level.sku, 0) + level.atp
    return [StockRow(sku=level.sku, location=code, on_hand=level.on_hand, reserved=level.reserved,
                     safety_stock=level.safety_stock, inbound_transfers=level.inbound_transfers,
                     outbound_transfers=level.outbound_transfers, atp=level.atp, sku_atp=totals[level.sku],
                     reorder_point=reorder_point,
                     below_reorder_point=is_below_reorder_point(totals[level.sku], reorder_point))
            for level, code, reorder_point in sorted(levels, key=lambda item: (item[0].sku, item[1]))]


class CurrencyValue(BaseModel):
    currency: str
    retail_value: int = Field(description="Units on hand times the SKU's base price, minor units (no unit cost "
                                          "is kept, so this is the value at selling price)")


class LowSku(BaseModel):
    sku: str
    atp: int
    reorder_point: int


class InventoryReport(BaseModel):
    skus: int
    units_on_hand: int
    value: list[CurrencyValue]
    below_reorder_point: list[LowSku]

    def csv_rows(self) -> tuple[list[str], list[list]]:
        rows = [["skus", "", self.skus], ["units_on_hand", "", self.units_on_hand]]
        rows += [["retail_value", value.currency, value.retail_value] for value in self.value]
        rows += [["below_reorder_point", low.sku, low.atp] for low in self.below_reorder_point]
        return ["metric", "key", "value"], rows


def inventory_report(rows: list[StockRow], prices: Iterable[tuple[str, str, int]]) -> InventoryReport:
    """rows: the whole stock list; prices: (sku, currency, base price)."""
    on_hand: dict[str, int] = {}
    for row in rows:
        on_hand[row.sku] = on_hand.get(row.sku, 0) + row.on_hand
    value: dict[str, int] = {}
    for sku, currency, amount in prices:
        value[currency] = value.get(currency, 0) + on_hand.get(sku, 0) * amount
    low = {row.sku: LowSku(sku=row.sku, atp=row.sku_atp, reorder_point=row.reorder_point)
           for row in rows if row.below_reorder_point}
    return InventoryReport(skus=len(on_hand), units_on_hand=sum(on_hand.values()),
                           value=[CurrencyValue(currency=c, retail_value=v) for c, v in sorted(value.items())],
                           below_reorder_point=sorted(low.values(), key=lambda item: item.sku))


@dataclass(frozen=True)
class CountLine:
    """One row of a bulk stock count: the count of a SKU at a location (and optionally its settings)."""

    row: int  # 1-based data row (the header is row 0)
    sku: str
    location: str
    on_hand: int
    safety_stock: int | None = None
    reorder_point: int | None = None


@dataclass(frozen=True)
class CountProblem:
    row: int
    code: str
    message: str


def parse_counts(text: str) -> tuple[list[CountLine], list[CountProblem]]:
    """The well-formed lines and a problem for each malformed one (the header's problems are row 0)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [column for column in COUNT_COLUMNS if column not in header]
    if missing:
        return [], [CountProblem(0, "missing_columns", f"the header needs {', '.join(missing)}")]
    reader.fieldnames = header
    lines, problems = [], []
    for number, record in enumerate(reader, start=1):
        if number > MAX_COUNT_ROWS:
            problems.append(CountProblem(number, "too_many_rows", f"at most {MAX_COUNT_ROWS} rows per file"))
            break
        try:
            lines.append(_count_line(number, record))
        except ValueError as problem:
            problems.append(CountProblem(number, "invalid_row", str(problem)))
    return lines, problems


def _count_line(number: int, record: dict) -> CountLine:
    sku, location = (record.get("sku") or "").strip(), (record.get("location") or "").strip()
    if not sku or not location:
        raise ValueError("sku and location are required")
    return CountLine(row=number, sku=sku, location=location, on_hand=_units(record, "on_hand", required=True),
                     safety_stock=_units(record, "safety_stock"), reorder_point=_units(record, "reorder_point"))


def _units(record: dict, column: str, *, required: bool = False) -> int | None:
    raw = (record.get(column) or "").strip()
    if not raw:
        if required:
            raise ValueError(f"{column} is required")
        return None
    if not raw.isdigit() or int(raw) > INT_MAX:
        raise ValueError(f"{column} must be a whole number from 0 to {INT_MAX}, got {raw!r}")
    return int(raw)
