"""Temporal client with the pydantic data converter (the same on client, worker and replayer)."""

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

import tracing
from config import Settings


async def connect(settings: Settings, runtime: Runtime | None = None, *, lazy: bool = False) -> Client:
    """``runtime``: e.g. one exporting metrics (the worker's); None is the SDK's default runtime.
    ``lazy``: connect on first use, so a process that can work without Temporal (the API's reads) starts
    while Temporal is down."""
    address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(address, namespace=settings.temporal_namespace,
                                data_converter=pydantic_data_converter, runtime=runtime,
                                tls=tls_config(settings), api_key=api_key, lazy=lazy,
                                interceptors=tracing.temporal_interceptors())


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS for TEMPORAL_TLS or an API key (Temporal Cloud takes keys over TLS only); False: plaintext."""
    if not (settings.temporal_tls or settings.temporal_api_key or settings.temporal_tls_cert_file):
        return False

    def read(path) -> bytes | None:
        return path.read_bytes() if path else None

    return TLSConfig(server_root_ca_cert=read(settings.temporal_tls_ca_file), domain=settings.temporal_tls_server_name,
                     client_cert=read(settings.temporal_tls_cert_file),
                     client_private_key=read(settings.temporal_tls_key_file))
