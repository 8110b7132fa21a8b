"""Catalog reads for the storefront (admin writes live in admin_catalog)."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ReadConn
from api.schemas import ErrorResponse
from api.catalog_schemas import ProductOut, ProductPage
from db import catalog as store
from models.catalog import Status

router = APIRouter(prefix="/products", tags=["catalog"])


@router.get("", response_model=ProductPage)
async def list_products(
    conn: ReadConn,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=40, description="`next_cursor` of the previous page")] = None,
) -> ProductPage:
    """Products with their variants and prices, ordered by id; omit `status` for every status."""
    items, next_cursor = await store.list_products(conn, status=status, limit=limit, cursor=cursor)
    return ProductPage(items=items, next_cursor=next_cursor)


@router.get("/{product_id}", response_model=ProductOut, responses={404: {"model": ErrorResponse}})
async def get_product(product_id: str, conn: ReadConn) -> ProductOut:
    return ProductOut.model_validate(await store.get_product(conn, product_id))
