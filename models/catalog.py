"""Catalog rules as pydantic models: products, variants, prices, identifiers and the CSV import.

Pure: no I/O. Validation failures use ``PydanticCustomError`` so the error ``type`` is a
stable machine-readable code (``invalid_gtin``, ``duplicate_currency`` …) in API details
and in CSV import reports alike.

CSV import format (UTF-8, optional BOM, comma-separated, RFC 4180 quoting)
--------------------------------------------------------------------------
Header row (case-insensitive, any order): ``handle,title,sku`` are required; optional
``description,category,product_status,variant_title,options,gtin,mpn,isbn,weight_grams,prices``.
Unknown or repeated columns reject the whole file.

* One row per variant; rows sharing a ``handle`` form one product (they need not be adjacent).
* Product fields (title, description, category, product_status) may be given on any row of the
  product (usually the first); at least one row must give the title and rows may not disagree.
* ``options``: ``color=black;size=M`` (no escaping: keys and values cannot hold ``;`` or ``=``).
* ``prices``: ``USD:2500;EUR:2300`` — ISO currency and an integer amount in minor units.
* A blank cell means "not given": defaults on create, left unchanged on update.
* ``row`` in errors is the line of the file where the record starts (header on line 1, so it
  matches the spreadsheet row); file-wide problems (empty file, bad header) name the header row.
* A product with an error in any of its rows is skipped entirely.
"""

import csv
import io
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator,
)
from pydantic_core import PydanticCustomError

from models.identifiers import is_valid_gtin, is_valid_isbn, normalize_isbn
from models.money import normalize_currency

Status = Literal["draft", "active", "archived"]
MAX_AMOUNT = 10**12  # minor units; far above any real price, far below BIGINT
MAX_WEIGHT_GRAMS = 1_000_000  # one tonne; keeps values inside the INTEGER column

_HANDLE_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_SKU_RE = re.compile(r"[A-Z0-9_-]{1,64}")


def _fail(code: str, message: str, **context) -> PydanticCustomError:
    return PydanticCustomError(code, message, context or None)


def _handle(value: str) -> str:
    if not _HANDLE_RE.fullmatch(value):
        raise _fail("invalid_handle", "handle must be lowercase letters and digits separated by single hyphens")
    return value


def _sku(value: str) -> str:
    if not _SKU_RE.fullmatch(value):
        raise _fail("invalid_sku", "SKU must be 1-64 uppercase letters, digits, '-' or '_'")
    return value


def _gtin(value: str) -> str:
    # Kept as given: a UPC-A stays 12 digits, an EAN-13 stays 13 (no zero padding).
    if not is_valid_gtin(value):
        raise _fail("invalid_gtin", "GTIN must be 8, 12, 13 or 14 digits with a valid check digit")
    return value


def _isbn(value: str) -> str:
    if not is_valid_isbn(value):
        raise _fail("invalid_isbn", "ISBN must be ISBN-10 or ISBN-13 with a valid check digit")
    return normalize_isbn(value)


def _currency(value: str) -> str:
    try:
        return normalize_currency(value)
    except ValueError:
        raise _fail("unsupported_currency", "unsupported currency {currency}", currency=value) from None


def _options(value: dict[str, str]) -> dict[str, str]:
    if any(not key.strip() or not text.strip() for key, text in value.items()):
        raise _fail("invalid_options", "option names and values must not be blank")
    return {key.strip(): text.strip() for key, text in value.items()}


Handle = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_handle)]
Sku = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_sku)]
Gtin = Annotated[str, AfterValidator(_gtin)]
Isbn = Annotated[str, Field(max_length=20), AfterValidator(_isbn)]
Mpn = Annotated[str, Field(min_length=1, max_length=100)]
Title = Annotated[str, Field(min_length=1, max_length=300)]
Description = Annotated[str, Field(max_length=20_000)]
Category = Annotated[str, Field(min_length=1, max_length=100)]
Weight = Annotated[int, Field(ge=0, le=MAX_WEIGHT_GRAMS)]
# A tax provider's product tax code (Avalara: e.g. PC040100 clothing); none means tangible personal property.
TaxCode = Annotated[str, Field(min_length=1, max_length=25, pattern=r"^[A-Za-z0-9]+$", examples=["PC040100"])]
Options = Annotated[dict[Annotated[str, Field(max_length=50)], Annotated[str, Field(max_length=100)]],
                    Field(max_length=20), AfterValidator(_options)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PriceIn(_Input):
    currency: Annotated[str, AfterValidator(_currency)]
    amount: StrictInt = Field(ge=0, le=MAX_AMOUNT, description="Minor units (cents); integers only")


def _unique_currencies(value: list[PriceIn]) -> list[PriceIn]:
    seen = [p.currency for p in value]
    if len(seen) != len(set(seen)):
        raise _fail("duplicate_currency", "each currency may appear only once")
    return value


Prices = Annotated[list[PriceIn], Field(max_length=30), AfterValidator(_unique_currencies)]


class VariantIn(_Input):
    sku: Sku
    title: Title
    options: Options = Field(default_factory=dict)
    gtin: Gtin | None = None
    mpn: Mpn | None = None
    isbn: Isbn | None = None
    weight_grams: Weight = 0
    status: Status = "active"  # the product's own status decides whether it is published
    tax_code: TaxCode | None = None  # None: the product's
    prices: Prices = Field(default_factory=list)


def _no_repeats(values: list[str], code: str, what: str) -> None:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise _fail(code, f"{what} repeated in the request: {', '.join(repeated)}")


class ProductCreate(_Input):
    handle: Handle
    title: Title
    description: Description = ""
    category: Category | None = None
    status: Status = "draft"
    tax_code: TaxCode | None = None
    variants: list[VariantIn] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _distinct_identifiers(self):
        _no_repeats([v.sku for v in self.variants], "duplicate_sku", "SKU")
        _no_repeats([v.gtin for v in self.variants if v.gtin], "duplicate_gtin", "GTIN")
        return self


class _Patch(_Input):
    """Partial update: only the fields sent change; ``null`` clears only nullable fields."""

    _nullable: frozenset[str] = frozenset()

    @model_validator(mode="after")
    def _meaningful(self):
        if not self.model_fields_set:
            raise _fail("no_changes", "send at least one field to change")
        for name in sorted(self.model_fields_set - self._nullable):
            if getattr(self, name) is None:
                raise _fail("not_nullable", "{field} cannot be null", field=name)
        return self

    def changes(self) -> dict:
        return self.model_dump(include=self.model_fields_set)


class ProductUpdate(_Patch):
    _nullable = frozenset({"category", "tax_code"})
    title: Title | None = None
    description: Description | None = None
    category: Category | None = None
    status: Status | None = None
    tax_code: TaxCode | None = None


class VariantUpdate(_Patch):
    _nullable = frozenset({"gtin", "mpn", "isbn", "tax_code"})
    title: Title | None = None
    options: Options | None = None
    gtin: Gtin | None = None
    mpn: Mpn | None = None
    isbn: Isbn | None = None
    weight_grams: Weight | None = None
    status: Status | None = None
    tax_code: TaxCode | None = None


class PricesSet(_Input):
    """The variant's complete price list: currencies left out are removed."""

    prices: Prices


# ---------------------------------------------------------------- CSV import
CSV_REQUIRED = ("handle", "title", "sku")
CSV_OPTIONAL = ("description", "category", "product_status", "variant_title", "options", "gtin", "mpn", "isbn",
                "weight_grams", "prices")
PRODUCT_FIELDS = ("title", "description", "category", "product_status")


class CsvError(BaseModel):
    row: int
    field: str | None = None
    code: str
    message: str


class ImportOutcome(BaseModel):
    """What an import did (the API answers it as its ImportReport)."""

    created_products: int = 0
    created_variants: int = 0
    updated: int = Field(0, description="Existing products and variants the import changed")
    errors: list[CsvError] = Field(default_factory=list)


def _split_pairs(text: str, sep: str, code: str, example: str) -> list[tuple[str, str]]:
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, found, value = part.partition(sep)
        if not found or not key.strip() or not value.strip():
            raise _fail(code, f"expected {example}, got {{part}}", part=part)
        pairs.append((key.strip(), value.strip()))
    return pairs


def _options_cell(text: str) -> dict[str, str]:
    pairs = _split_pairs(text, "=", "invalid_options", "name=value;name=value")
    if len({k for k, _ in pairs}) != len(pairs):
        raise _fail("invalid_options", "an option name is repeated")
    return dict(pairs)


def _prices_cell(text: str) -> list[dict]:
    pairs = _split_pairs(text, ":", "invalid_price", "CUR:amount;CUR:amount")
    for _, amount in pairs:
        if not amount.isdigit() or not amount.isascii():
            raise _fail("invalid_price", "price {amount} is not a whole number of minor units", amount=amount)
    return [{"currency": cur, "amount": int(amount)} for cur, amount in pairs]


class CatalogCsvRow(_Input):
    """One CSV record, validated with the same rules as the JSON API."""

    row: int
    handle: Handle
    title: Title | None = None
    description: Description | None = None
    category: Category | None = None
    product_status: Status | None = None
    sku: Sku
    variant_title: Title | None = None
    options: Options | None = None
    gtin: Gtin | None = None
    mpn: Mpn | None = None
    isbn: Isbn | None = None
    weight_grams: Weight | None = None
    prices: Prices | None = None

    @field_validator("options", mode="before")
    @classmethod
    def _options_text(cls, value):
        return _options_cell(value) if isinstance(value, str) else value

    @field_validator("prices", mode="before")
    @classmethod
    def _prices_text(cls, value):
        return _prices_cell(value) if isinstance(value, str) else value

    def new_variant(self, product_title: str) -> VariantIn:
        given = self.model_dump(include={"sku", "options", "gtin", "mpn", "isbn", "weight_grams", "prices"},
                                exclude_none=True)
        return VariantIn(title=self.variant_title or product_title, **given)

    def variant_changes(self) -> dict:
        """Fields this row sets on an existing variant (blank cells leave the variant alone)."""
        changes = self.model_dump(include={"options", "gtin", "mpn", "isbn", "weight_grams"}, exclude_none=True)
        if self.variant_title:
            changes["title"] = self.variant_title
        return changes


class CsvProduct(BaseModel):
    """All valid rows of one handle, with the product fields they agree on."""

    handle: str
    title: str
    description: str | None = None
    category: str | None = None
    status: Status | None = None
    rows: list[CatalogCsvRow]

    def product_changes(self) -> dict:
        given = {"title": self.title, "description": self.description, "category": self.category,
                 "status": self.status}
        return {k: v for k, v in given.items() if v is not None}


def _header(cells: list[str]) -> tuple[list[str], list[CsvError]]:
    names = [c.strip().lower() for c in cells]
    errors = [CsvError(row=1, field=n, code="unknown_column", message=f"unknown column {n!r}")
              for n in names if n not in CSV_REQUIRED + CSV_OPTIONAL]
    errors += [CsvError(row=1, field=n, code="duplicate_column", message=f"column {n!r} appears twice")
               for n in sorted({n for n in names if names.count(n) > 1})]
    errors += [CsvError(row=1, field=n, code="missing_column", message=f"required column {n!r} is missing")
               for n in CSV_REQUIRED if n not in names]
    return names, errors


def _errors_of(row: int, exc: ValidationError) -> list[CsvError]:
    return [CsvError(row=row, field=str(e["loc"][0]) if e["loc"] else None, code=e["type"], message=e["msg"])
            for e in exc.errors()]


def _read_row(number: int, names: list[str], cells: list[str]) -> tuple[CatalogCsvRow | None, list[CsvError]]:
    if len(cells) > len(names):
        return None, [CsvError(row=number, code="too_many_cells",
                               message=f"{len(cells)} cells but the header has {len(names)} columns")]
    given = {name: cell.strip() for name, cell in zip(names, cells) if cell.strip()}
    try:
        return CatalogCsvRow.model_validate({"row": number, **given}), []
    except ValidationError as exc:
        return None, _errors_of(number, exc)


def _duplicates(rows: list[CatalogCsvRow]) -> list[CsvError]:
    errors, first_seen = [], {}
    for row in rows:
        for field in ("sku", "gtin"):
            value = getattr(row, field)
            if value is None:
                continue
            seen = first_seen.setdefault((field, value), row.row)
            if seen != row.row:
                errors.append(CsvError(row=row.row, field=field, code=f"duplicate_{field}",
                                       message=f"{field} {value} already appears in row {seen}"))
    return errors


def _group(handle: str, rows: list[CatalogCsvRow], *, complete: bool) -> tuple[CsvProduct | None, list[CsvError]]:
    """Merge a handle's rows; ``complete`` is False when some of its rows were already rejected."""
    agreed, errors = {}, []
    for row in rows:
        for field in PRODUCT_FIELDS:
            value = getattr(row, field)
            if value is None:
                continue
            if agreed.setdefault(field, value) != value:
                errors.append(CsvError(row=row.row, field=field, code="conflicting_product_field",
                                       message=f"{field} differs from an earlier row of product {handle}"))
    if complete and "title" not in agreed:
        errors.append(CsvError(row=rows[0].row, field="title", code="missing_title",
                               message=f"no row of product {handle} gives a title"))
    if errors or not complete:
        return None, errors
    return CsvProduct(handle=handle, title=agreed["title"], description=agreed.get("description"),
                      category=agreed.get("category"), status=agreed.get("product_status"), rows=rows), []


def _records(text: str):
    """Non-blank records with the line each starts on (a quoted cell may span lines)."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    start = 1
    for cells in reader:
        if any(c.strip() for c in cells):
            yield start, cells
        start = reader.line_num + 1


def _handle_cell(names: list[str], cells: list[str]) -> str:
    at = names.index("handle")
    return cells[at].strip() if at < len(cells) else ""


def parse_catalog_csv(text: str) -> tuple[list[CsvProduct], list[CsvError]]:
    """Valid products (in file order) and every error found; products with any error are left out."""
    try:
        records = list(_records(text))
    except csv.Error as exc:
        return [], [CsvError(row=1, code="malformed_csv", message=f"the file is not valid CSV: {exc}")]
    if not records:
        return [], [CsvError(row=1, code="empty_file", message="the file has no header row")]
    (header_row, header), data = records[0], records[1:]
    names, errors = _header(header)
    if errors:
        return [], [e.model_copy(update={"row": header_row}) for e in errors]
    valid, broken = [], set()
    for number, cells in data:
        row, row_errors = _read_row(number, names, cells)
        if row_errors:
            errors += row_errors
            broken.add(_handle_cell(names, cells))
        else:
            valid.append(row)
    for error in _duplicates(valid):
        errors.append(error)
        broken.update(r.handle for r in valid if r.row == error.row)
    rows_by_handle: dict[str, list[CatalogCsvRow]] = {}
    for row in valid:
        rows_by_handle.setdefault(row.handle, []).append(row)
    products = []
    for handle, rows in rows_by_handle.items():
        product, group_errors = _group(handle, rows, complete=handle not in broken)
        errors += group_errors
        if product:
            products.append(product)
    return products, sorted(errors, key=lambda e: e.row)
