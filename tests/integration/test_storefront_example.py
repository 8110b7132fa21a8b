"""examples/storefront.py runs its whole walk (browse → cart → quote → checkout → order) as a storefront key
against the API and a real worker, and its command line refuses to run without a key."""

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import uvicorn

from examples.storefront import shop
from tests.factories import make_location, make_sku
from tests.helpers import eventually

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "storefront.py"


@pytest.fixture(scope="module")
async def served(api_app):
    """The test stack's API on a real socket, as `make dev` serves it: its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(api_app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, 30, interval=0.02, what="uvicorn to listen")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(serving, 30)


async def test_the_example_buys_at_the_quoted_total(served, role_keys, engine):
    await make_sku(engine, price=2500, stock={await make_location(engine): 10}, weight_grams=300)
    said = []

    async with httpx.AsyncClient(base_url=served, headers={"Authorization": f"Bearer {role_keys['storefront']}"},
                                 timeout=30) as api:
        bought = await shop(api, say=said.append, poll_seconds=0.05, give_up_seconds=60)

    quote, checkout, order = bought["quote"], bought["checkout"], bought["order"]
    assert checkout["status"] == "completed"
    assert order["id"] == checkout["order_id"] and order["status"] == "authorized"
    assert order["totals"]["total"] == quote["total"] == 5000 + 599 + 363
    assert [line.split(" ")[0] for line in said] == ["cart", "quote", "order"]


def test_the_command_line_needs_a_storefront_key():
    ran = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin"})
    assert ran.returncode == 2, ran.stderr
    assert "storefront key" in ran.stderr
