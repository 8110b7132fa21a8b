"""Liveness and readiness for load balancers and orchestrators."""

import asyncio
from datetime import timedelta

from fastapi import APIRouter
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


@router.get("/readyz", responses={503: {"description": "PostgreSQL or Temporal unreachable"}})
async def readyz(engine: Engine, temporal: Temporal):
    """Readiness: PostgreSQL answers a query and the Temporal frontend reports healthy (503 otherwise)."""

    async def postgres() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def temporal_health() -> None:
        await temporal.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT))

    results = await asyncio.gather(*(asyncio.wait_for(check(), CHECK_TIMEOUT) for check in (postgres, temporal_health)),
                                   return_exceptions=True)
    checks = {name: "ok" if result is None else f"error: {type(result).__name__}"  # report, never raise
              for name, result in zip(("postgres", "temporal"), results)}
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                        status_code=200 if ready else 503)
