"""Temporal client with the pydantic data converter (the same on client, worker and replayer)."""

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from config import Settings


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """``runtime``: e.g. one exporting metrics (the worker's); None is the SDK's default runtime."""
    address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
    return await Client.connect(address, namespace=settings.temporal_namespace,
                                data_converter=pydantic_data_converter, runtime=runtime)
