"""Request-scoped dependencies: database connections and the Temporal client."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio.client import Client

from config import Settings


def get_engine(request: Request) -> AsyncEngine:
    return request.app.state.engine


def get_temporal(request: Request) -> Client:
    return request.app.state.temporal


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def read_conn(engine: Annotated[AsyncEngine, Depends(get_engine)]) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        yield conn


ReadConn = Annotated[AsyncConnection, Depends(read_conn)]
# Writers open ``engine.begin()`` themselves so the commit happens before the response.
Engine = Annotated[AsyncEngine, Depends(get_engine)]
Temporal = Annotated[Client, Depends(get_temporal)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
