"""/readyz per role: a Temporal outage degrades the API (reads still served) instead of taking it out."""

import socket

from api.app import create_app
from temporal_client import connect
from tests.conftest import api_client


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe is closed


async def test_temporal_down_is_degraded_not_unready(settings, engine, role_keys):
    unreachable = settings.model_copy(update={"temporal_address": f"127.0.0.1:{_closed_port()}"})
    temporal = await connect(unreachable, lazy=True)  # what the API does: it starts without Temporal
    api = api_client(create_app(unreachable, engine=engine, temporal=temporal), role_keys["admin"])
    try:
        ready = await api.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["postgres"] == "ok"
        assert ready.json()["checks"]["temporal"].startswith("error")
        assert (await api.get("/products")).status_code == 200  # catalog reads go on

        checkout_pool = await api.get("/readyz", params={"require": "temporal"})
        assert checkout_pool.status_code == 503 and checkout_pool.json()["status"] == "not_ready"
    finally:
        await api.aclose()


async def test_everything_up_is_ready(settings, engine, temporal_env):
    api = api_client(create_app(settings, engine=engine, temporal=temporal_env.client))
    try:
        for params in ({}, {"require": "temporal"}):
            ready = await api.get("/readyz", params=params)
            assert ready.status_code == 200 and ready.json()["status"] == "ready", params
    finally:
        await api.aclose()
