"""Catalog reads for the storefront (admin writes live in admin_catalog)."""

from fastapi import APIRouter

router = APIRouter(prefix="/products", tags=["catalog"])
