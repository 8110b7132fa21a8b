"""Catalog administration: products, variants, prices and CSV import."""

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, status
from starlette.datastructures import UploadFile

from api.auth import CurrentCaller
from api.deps import Engine
from api.errors import ApiError
from api.schemas import ErrorResponse
from db import audit
from db import catalog as store
from api.catalog_schemas import ImportReport, ProductOut, VariantOut
from models.catalog import (
    PricesSet, ProductCreate, ProductUpdate, VariantIn, VariantUpdate, parse_catalog_csv,
)
from models.errors import DomainError

router = APIRouter(prefix="/admin/catalog", tags=["admin"])

MAX_CSV_BYTES = 5 * 1024 * 1024
_ERRORS = {404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


@router.post("/products", status_code=status.HTTP_201_CREATED, response_model=ProductOut, responses=_ERRORS)
async def create_product(body: ProductCreate, engine: Engine, caller: CurrentCaller) -> ProductOut:
    async with engine.begin() as conn:
        product_id = await store.create_product(conn, body)
        await audit.record(conn, caller, "catalog.product_created", target=product_id,
                           details=body.model_dump(mode="json"))
        return ProductOut.model_validate(await store.get_product(conn, product_id))


@router.patch("/products/{product_id}", response_model=ProductOut, responses=_ERRORS)
async def update_product(product_id: str, body: ProductUpdate, engine: Engine, caller: CurrentCaller) -> ProductOut:
    async with engine.begin() as conn:
        await store.update_product(conn, product_id, body.changes())
        await audit.record(conn, caller, "catalog.product_updated", target=product_id,
                           details=body.model_dump(mode="json", include=body.model_fields_set))
        return ProductOut.model_validate(await store.get_product(conn, product_id))


@router.post("/products/{product_id}/variants", status_code=status.HTTP_201_CREATED, response_model=VariantOut,
             responses=_ERRORS)
async def add_variant(product_id: str, body: VariantIn, engine: Engine, caller: CurrentCaller) -> VariantOut:
    async with engine.begin() as conn:
        await store.add_variant(conn, product_id, body)
        await audit.record(conn, caller, "catalog.variant_added", target=body.sku,
                           details={"product_id": product_id, **body.model_dump(mode="json")})
        return VariantOut.model_validate(await store.get_variant(conn, body.sku))


@router.patch("/variants/{sku}", response_model=VariantOut, responses=_ERRORS)
async def update_variant(sku: str, body: VariantUpdate, engine: Engine, caller: CurrentCaller) -> VariantOut:
    async with engine.begin() as conn:
        await store.update_variant(conn, sku, body.changes())
        await audit.record(conn, caller, "catalog.variant_updated", target=sku,
                           details=body.model_dump(mode="json", include=body.model_fields_set))
        return VariantOut.model_validate(await store.get_variant(conn, sku))


@router.put("/variants/{sku}/prices", response_model=VariantOut, responses=_ERRORS)
async def set_prices(sku: str, body: PricesSet, engine: Engine, caller: CurrentCaller) -> VariantOut:
    """Replace the variant's prices: currencies not listed stop being sold in."""
    async with engine.begin() as conn:
        await store.set_prices(conn, sku, body.prices)
        await audit.record(conn, caller, "catalog.prices_set", target=sku, details=body.model_dump(mode="json"))
        return VariantOut.model_validate(await store.get_variant(conn, sku))


_CSV_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}},
}}}


@router.post("/import", response_model=ImportReport, openapi_extra=_CSV_BODY,
             responses={413: {"model": ErrorResponse}, 415: {"model": ErrorResponse}})
async def import_catalog(request: Request, engine: Engine, caller: CurrentCaller,
                         dry_run: bool = False) -> ImportReport:
    """Create or update products from CSV (format: `models.catalog` docstring).

    Valid products are applied, each all-or-nothing; errors name the CSV row. With
    `dry_run=true` everything runs inside a transaction that is rolled back.
    """
    parsed, parse_errors = parse_catalog_csv(await _csv_text(request))
    async with engine.connect() as conn:
        await conn.begin()
        outcome = await store.import_products(conn, parsed)
        if not dry_run:
            await audit.record(conn, caller, "catalog.imported", details=outcome.model_dump(
                mode="json", include={"created_products", "created_variants", "updated"}))
        await (conn.rollback() if dry_run else conn.commit())
    errors = sorted(parse_errors + outcome.errors, key=lambda e: e.row)
    return ImportReport(**outcome.model_dump(exclude={"errors"}), errors=errors, dry_run=dry_run)


async def _csv_text(request: Request) -> str:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_CSV_BYTES + 64 * 1024:  # room for multipart framing
        raise _too_large()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        data = await _uploaded(request)
    elif media_type in ("text/csv", "application/csv", "text/plain"):
        data = await _limited(request.stream())
    else:
        raise ApiError(415, "unsupported_media_type", "send text/csv, or multipart/form-data with a `file` field")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DomainError("the CSV file must be UTF-8 encoded", code="csv_not_utf8") from None
    if "\x00" in text:  # PostgreSQL text cannot hold NUL: refuse the file rather than fail mid-import
        raise DomainError("the CSV file contains NUL characters", code="csv_invalid_characters")
    return text


async def _uploaded(request: Request) -> bytes:
    async with request.form(max_files=1, max_fields=5) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise DomainError("the multipart form needs a `file` field holding the CSV", code="csv_file_missing")
        if (upload.size or 0) > MAX_CSV_BYTES:
            raise _too_large()
        return await upload.read()


async def _limited(chunks: AsyncIterator[bytes]) -> bytes:
    # Content-Length can be absent (chunked uploads), so count while reading.
    data = bytearray()
    async for chunk in chunks:
        data += chunk
        if len(data) > MAX_CSV_BYTES:
            raise _too_large()
    return bytes(data)


def _too_large() -> ApiError:
    return ApiError(413, "payload_too_large", f"CSV files are limited to {MAX_CSV_BYTES // (1024 * 1024)} MB")
