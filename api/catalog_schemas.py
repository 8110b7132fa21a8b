"""What the catalog routes answer: products with their variants and prices, and CSV import reports.

The store (db/catalog.py) reads plain rows; these models are the API's shape of them.
"""

from datetime import datetime

from pydantic import BaseModel, Field

from models.catalog import ImportOutcome


class PriceOut(BaseModel):
    currency: str
    amount: int


class VariantOut(BaseModel):
    id: str
    sku: str
    title: str
    options: dict[str, str]
    gtin: str | None
    mpn: str | None
    isbn: str | None
    weight_grams: int
    status: str
    tax_code: str | None = None
    prices: list[PriceOut]


class ProductOut(BaseModel):
    id: str
    handle: str
    title: str
    description: str
    category: str | None
    status: str
    tax_code: str | None = None
    variants: list[VariantOut]
    created_at: datetime
    updated_at: datetime


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class ImportReport(ImportOutcome):
    dry_run: bool = False
