"""Property-based fuzzing of the storefront API from its own OpenAPI document (schemathesis).

A real ``orderflow api`` process (this module's database, the session's Temporal server) is called
over HTTP: every storefront operation (carts, checkouts, products, inventory, orders) with a
storefront key, every admin catalog, promotions and inventory operation with an admin key.
Generated valid and invalid requests must never get a 5xx, and every response must match the
documented status codes, content type and schema. Examples per operation are bounded (FUZZ_EXAMPLES,
default 25) so the suite stays fast on 2 cores; ``FUZZ_EXAMPLES=300`` digs deeper.
"""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from api.access import permission_for
from api.app import create_app
from config import Settings
from models.auth import Permission as P
from models.auth import allows
from schemathesis.checks import (
    content_type_conformance, not_a_server_error, response_schema_conformance, status_code_conformance,
)
from tests.helpers import eventually_blocking

REPO = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
STOREFRONT = r"^/(carts|checkouts|products|inventory|orders)\b"



def _storefront_operation(ctx) -> bool:
    """Carts, checkouts, products, inventory and orders: what the storefront role may call there."""
    method, path = ctx.operation.method.upper(), ctx.operation.path
    return bool(re.match(STOREFRONT, path)) and allows("storefront", permission_for(method, path) or P.UNCLASSIFIED)


# Built in-process (no I/O: the lifespan does not run), so the operations are known at collection.
schema = schemathesis.openapi.from_dict(
    create_app(Settings(environment="test", database_url="postgresql://unused/db")).openapi()
).include(func=_storefront_operation)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def live_api(database_url, temporal_env, task_queue, tmp_path_factory):
    """``orderflow api`` on a free port; no worker: checkouts that start simply stay pending."""
    port = _free_port()
    state = tmp_path_factory.mktemp("api-state")
    env = {**os.environ, "DATABASE_URL": database_url, "TASK_QUEUE": task_queue, "API_PORT": str(port),
           "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host, "STATE_DIR": str(state),
           "ENVIRONMENT": "test", "LOG_LEVEL": "ERROR"}
    log = (state / "api.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "cli", "api"], cwd=REPO, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, (state / "api.log").read_text()[-3000:]
        try:
            return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    eventually_blocking(ready, 30, interval=0.1, what="orderflow api to become ready")
    yield base
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
    errors = (state / "api.log").read_text()
    assert "unhandled error" not in errors, errors[-3000:]


@pytest.fixture(scope="module")
def storefront_headers(role_keys) -> dict[str, str]:
    return {"Authorization": f"Bearer {role_keys['storefront']}"}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_storefront_api_survives_generated_requests(case, live_api, storefront_headers):
    headers = dict(storefront_headers)
    if case.method == "POST" and case.path == "/checkouts":
        headers.setdefault("Idempotency-Key", os.urandom(8).hex())
    response = case.call(base_url=live_api, headers=headers, timeout=30)
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                             response_schema_conformance])


ADMIN = r"^/admin/(catalog|promotions|inventory)/"
admin_schema = schemathesis.openapi.from_dict(
    create_app(Settings(environment="test", database_url="postgresql://unused/db")).openapi()
).include(path_regex=ADMIN)


@admin_schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_admin_catalog_api_survives_generated_requests(case, live_api, role_keys):
    response = case.call(base_url=live_api, headers={"Authorization": f"Bearer {role_keys['admin']}"}, timeout=30)
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                             response_schema_conformance])
