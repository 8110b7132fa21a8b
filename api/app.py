"""FastAPI application factory. Thin: routes start, query and signal workflows or read views."""

from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import errors
from api.auth import authorize
from api.middleware import InputGuardMiddleware, RequestContextMiddleware
from api.ownership import enforce_ownership
from api.routes import (
    admin_catalog, admin_inventory, admin_keys, admin_promotions, audit, carts, checkouts, console, customer_privacy,
    console_admin, console_queues, customers, draft_orders, health, inventory, invoices, kill_switches, metrics,
    order_edits, orders, products, reports, returns, shipments,
    stock_admin, subscription_plans, subscriptions, support, transfers, unsubscribe, webhooks, work_queues,
)
from api.schemas import ErrorResponse
from config import Settings, get_settings
from db.engine import engines_from_settings
import tracing

log = structlog.get_logger("orderflow.api")

# What any route may answer, documented once: malformed body, no or bad key, role too low, unknown id,
# body over the size limit, invalid input. Always our error body (never FastAPI's default shapes).
COMMON_ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 413, 422)}


def create_app(settings: Settings | None = None, *, engine: AsyncEngine | None = None,
               temporal: Client | None = None) -> FastAPI:
    """Build the app. Tests pass their own engine and client; otherwise they come from settings."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned_engine = engine is None
        _require_db(settings)
        app.state.engine, app.state.read_engine = (engine, engine) if engine else engines_from_settings(settings)
        if temporal is None:
            from temporal_client import connect

            app.state.temporal = await connect(settings, lazy=True)  # reads serve while Temporal is down
        else:
            app.state.temporal = temporal
        log.info("api started", temporal=settings.temporal_address or "dev server")
        yield
        if owned_engine:
            await app.state.engine.dispose()
            await app.state.read_engine.dispose()

    app = FastAPI(
        title="orderflow", version="0.1.0", lifespan=lifespan,
        description="Durable order pipeline: carts, checkouts, orders and inventory. "
                    "Errors are `{\"error\": {\"code\", \"message\"}}` with a stable machine-readable code. "
                    "Every route but health checks and webhooks needs an API key (`Authorization: Bearer …`); "
                    "who may call what is listed in `api/access.py`.",
        # Every API route runs them: authentication and the route's permission check, then whose resource
        # a storefront may touch (api/ownership.py).
        dependencies=[Depends(authorize), Depends(enforce_ownership)], responses=COMMON_ERRORS,
    )
    app.state.settings = settings
    tracing.instrument_api(app, tracing.configure("orderflow-api"))
    if engine is not None and temporal is not None:
        # Injected (tests, embedding): usable without running the lifespan.
        app.state.engine, app.state.temporal = engine, temporal
    # Added first, so it runs inside the request context (its 413/422 answers are logged and measured).
    app.add_middleware(InputGuardMiddleware, max_body_bytes=settings.max_body_bytes,
                       limits={"/admin/catalog/import": admin_catalog.MAX_CSV_BYTES + 64 * 1024})  # + multipart
    app.add_middleware(RequestContextMiddleware)
    # Outermost: the client address every later layer sees (fraud velocity, logs) is the one our own
    # proxy reported, never a header the client wrote itself. uvicorn's own copy is off (cli.py).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    errors.install(app)
    # transfers before admin_inventory: /admin/inventory/transfers/… is never taken for /admin/inventory/{sku}/….
    for module in (health, products, carts, checkouts, orders, inventory, admin_catalog, transfers, admin_inventory,
                   kill_switches, shipments, invoices, webhooks, support, returns, audit, admin_keys,
                   admin_promotions, console, subscriptions, metrics, reports, unsubscribe, customers,
                   customer_privacy, stock_admin, work_queues, draft_orders, console_queues, console_admin,
                   order_edits):
        app.include_router(module.router)
    app.include_router(subscription_plans.admin)
    app.include_router(subscription_plans.storefront)
    return app


def _require_db(settings: Settings) -> str:
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set (make dev sets it for the embedded PostgreSQL)")
    return settings.database_url
