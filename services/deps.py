"""What every handler needs, built once per process (the API's app state, the CLI's main)."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from config import Settings


@dataclass(frozen=True)
class Deps:
    engine: AsyncEngine
    temporal: Client
    settings: Settings
