"""Request-scoped dependencies: database connections, the Temporal client, the service layer's bundle.

Every dependency is ``async def``: FastAPI runs a plain ``def`` one in its thread pool, a hand-off to a thread
and back per dependency per request (tests/integration/test_api_event_loop.py)."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio.client import Client

from config import Settings
from services.deps import Deps


async def get_engine(request: Request) -> AsyncEngine:
    return request.app.state.engine


async def get_temporal(request: Request) -> Client:
    return request.app.state.temporal


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_services(request: Request) -> Deps:
    state = request.app.state
    return Deps(engine=state.engine, temporal=state.temporal, settings=state.settings)


async def read_conn(engine: Annotated[AsyncEngine, Depends(get_engine)]) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        yield conn


ReadConn = Annotated[AsyncConnection, Depends(read_conn)]
# Writers open ``engine.begin()`` themselves (or in a service handler) so the commit happens before the response.
Engine = Annotated[AsyncEngine, Depends(get_engine)]
Temporal = Annotated[Client, Depends(get_temporal)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
Services = Annotated[Deps, Depends(get_services)]
# The one Idempotency-Key header. Optional in the schema: a route that needs one answers
# 400 idempotency_key_required (services.errors), with our error body rather than FastAPI's 422.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
