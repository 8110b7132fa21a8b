"""Failed authentication is throttled per client address (as TRUSTED_PROXIES lets us know it)."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select

from config import Settings
from db import auth_failures
from db.tables import auth_failures as failures_table
from tests.conftest import api_client
from tests.integration.test_console import csrf_in

LIMIT, WINDOW = 3, 600


@pytest.fixture(scope="module")
def settings(database_url, task_queue) -> Settings:
    return Settings(environment="test", database_url=database_url, task_queue=task_queue,
                    auth_failure_limit=LIMIT, auth_failure_window_seconds=WINDOW)


def from_address(api_app, address: str, secret: str | None) -> AsyncClient:
    """A client behind our (trusted, loopback) proxy that reports ``address`` as the client."""
    client = api_client(api_app, secret)
    client.headers["X-Forwarded-For"] = address
    return client


async def failures_of(engine, address: str) -> int | None:
    async with engine.connect() as conn:
        return (await conn.execute(select(failures_table.c.failures)
                                   .where(failures_table.c.client_address == address))).scalar_one_or_none()


async def test_bad_keys_lock_out_their_address_even_with_a_good_key(api_app, role_keys, engine, caplog):
    caplog.set_level(logging.INFO, logger="orderflow.api.auth")
    attacker, neighbour = "203.0.113.7", "203.0.113.8"
    for attempt in range(LIMIT):
        async with from_address(api_app, attacker, f"ofk_guess{attempt}") as guessing:
            assert (await guessing.get("/products")).status_code == 401
    async with from_address(api_app, attacker, role_keys["storefront"]) as lucky:
        refused = await lucky.get("/products")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_failed_logins"
    assert 0 < int(refused.headers["Retry-After"]) <= WINDOW
    async with from_address(api_app, neighbour, role_keys["storefront"]) as other:
        assert (await other.get("/products")).status_code == 200, "only the failing address is throttled"

    logged = [r.msg for r in caplog.records if isinstance(r.msg, dict)
              and r.msg.get("event") == "authentication failed" and r.msg.get("client_address") == attacker]
    assert [line["failures"] for line in logged] == [1, 2, 3]
    assert not any("ofk_guess" in str(r.msg) for r in caplog.records), "a presented secret is never logged"


async def test_successful_requests_write_nothing(api_app, role_keys, engine):
    address = "198.51.100.20"
    async with from_address(api_app, address, role_keys["storefront"]) as shop:
        for _ in range(LIMIT + 2):
            assert (await shop.get("/products")).status_code == 200
    assert await failures_of(engine, address) is None


async def test_the_console_login_counts_and_refuses_the_same_way(api_app, role_keys, engine):
    address = "192.0.2.44"
    async with AsyncClient(transport=ASGITransport(app=api_app, raise_app_exceptions=False),
                           base_url="http://orderflow.test", headers={"X-Forwarded-For": address}) as browser:
        for _ in range(LIMIT):
            form = await browser.get("/console/login")
            wrong = await browser.post("/console/login", data={"api_key": "ofk_nope", "csrf": csrf_in(form.text)})
            assert wrong.status_code == 401
        form = await browser.get("/console/login")
        refused = await browser.post("/console/login", data={"api_key": role_keys["support"],
                                                               "csrf": csrf_in(form.text)})
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    assert int(refused.headers["Retry-After"]) > 0
    assert await failures_of(engine, address) == LIMIT


async def test_a_window_ends_and_the_next_failure_starts_a_new_one(engine):
    address, start, window = "192.0.2.99", datetime.now(UTC), timedelta(seconds=WINDOW)
    async with engine.begin() as conn:
        for _ in range(LIMIT):
            await auth_failures.record_failure(conn, address, start, window=window)
        assert await auth_failures.retry_after(conn, address, start + timedelta(seconds=10), limit=LIMIT,
                                               window=window) == WINDOW - 10
        later = start + window + timedelta(seconds=1)
        assert await auth_failures.retry_after(conn, address, later, limit=LIMIT, window=window) is None
        assert await auth_failures.record_failure(conn, address, later, window=window) == 1
