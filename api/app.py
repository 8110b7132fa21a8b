"""FastAPI application factory. Thin: routes start, query and signal workflows or read views."""

from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api import errors
from api.middleware import RequestContextMiddleware
from api.routes import (
    admin_catalog, admin_inventory, carts, checkouts, health, inventory, invoices, kill_switches, orders, products,
    shipments, support, webhooks,
)
from config import Settings, get_settings
from db.engine import make_engine

log = structlog.get_logger("orderflow.api")


def create_app(settings: Settings | None = None, *, engine: AsyncEngine | None = None,
               temporal: Client | None = None) -> FastAPI:
    """Build the app. Tests pass their own engine and client; otherwise they come from settings."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned_engine = engine is None
        app.state.engine = engine or make_engine(_require_db(settings))
        if temporal is None:
            from temporal_client import connect

            app.state.temporal = await connect(settings)
        else:
            app.state.temporal = temporal
        log.info("api started", temporal=settings.temporal_address or "dev server")
        yield
        if owned_engine:
            await app.state.engine.dispose()

    app = FastAPI(
        title="orderflow", version="0.1.0", lifespan=lifespan,
        description="Durable order pipeline: carts, checkouts, orders and inventory. "
                    "Errors are `{\"error\": {\"code\", \"message\"}}` with a stable machine-readable code.",
    )
    app.state.settings = settings
    if engine is not None and temporal is not None:
        # Injected (tests, embedding): usable without running the lifespan.
        app.state.engine, app.state.temporal = engine, temporal
    app.add_middleware(RequestContextMiddleware)
    errors.install(app)
    for module in (health, products, carts, checkouts, orders, inventory, admin_catalog, admin_inventory,
                   kill_switches, shipments, invoices, webhooks, support):
        app.include_router(module.router)
    return app


def _require_db(settings: Settings) -> str:
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set (make dev sets it for the embedded PostgreSQL)")
    return settings.database_url
