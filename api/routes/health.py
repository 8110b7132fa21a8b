"""Liveness and readiness for load balancers and orchestrators."""

import asyncio
from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import Engine, Temporal

router = APIRouter(tags=["health"])

# A dependency that does not answer within this is as good as down: a probe must not hang.
CHECK_TIMEOUT = 2.0


@router.get("/healthz")
async def healthz() -> dict:
    """Liveness: the process answers. Checks no dependency, so an outage does not restart every pod."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "PostgreSQL (or a required Temporal) unreachable"}})
async def readyz(engine: Engine, temporal: Temporal,
                 require: Literal["postgres", "temporal"] = Query("postgres", description=(
                     "`postgres` (default): ready while PostgreSQL answers, `degraded` without Temporal. "
                     "`temporal`: also needs Temporal, for a pool that only takes checkouts and actions"))):
    """Readiness of the API. Catalog, carts and order pages need PostgreSQL only, so a Temporal outage
    answers 200 `degraded` (checkouts and support actions answer 503 meanwhile) instead of taking
    all traffic out of rotation; PostgreSQL down answers 503 `not_ready`."""

    async def postgres() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def temporal_health() -> None:
        await temporal.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT))

    results = await asyncio.gather(*(asyncio.wait_for(check(), CHECK_TIMEOUT) for check in (postgres, temporal_health)),
                                   return_exceptions=True)
    checks = {name: "ok" if result is None else f"error: {type(result).__name__}"  # report, never raise
              for name, result in zip(("postgres", "temporal"), results)}
    required = ("postgres", "temporal") if require == "temporal" else ("postgres",)
    if any(checks[name] != "ok" for name in required):
        return JSONResponse({"status": "not_ready", "checks": checks}, status_code=503)
    return JSONResponse({"status": "ready" if checks["temporal"] == "ok" else "degraded", "checks": checks})
