"""Driving the console over HTTP the way a browser does: a cookie-keeping client, forms sent with the page's CSRF
token, redirects followed one hop at a time."""

import re

from httpx import ASGITransport, AsyncClient
from sqlalchemy import select

from config import Settings
from db.tables import audit_log
from tests.factories import make_location, make_sku
from tests.helpers import eventually
from tests.integration.checkout_helpers import cart_with, checkout_body, start_checkout


def browser(api_app, scheme: str = "http") -> AsyncClient:
    """A cookie-keeping client that does not follow redirects, so each hop can be checked."""
    return AsyncClient(transport=ASGITransport(app=api_app, raise_app_exceptions=False),
                       base_url=f"{scheme}://orderflow.test")


def csrf_in(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def signed_in(api_app, secret: str) -> AsyncClient:
    client = browser(api_app)
    form = await client.get("/console/login")
    response = await client.post("/console/login", data={"api_key": secret, "csrf": csrf_in(form.text),
                                                          "next": "/console"})
    assert response.status_code == 303 and response.headers["location"] == "/console", response.text
    return client


async def follow(client: AsyncClient, response):
    assert response.status_code == 303, response.text
    return await client.get(response.headers["location"])


async def act(client: AsyncClient, path: str, page_path: str, **fields):
    """Submit a form of ``page_path`` the way a browser would (with the page's CSRF token) and follow."""
    page = await client.get(page_path)
    return await follow(client, await client.post(path, data={"csrf": csrf_in(page.text), **fields}))


def flash_of(response) -> str:
    found = re.search(r'<div class="flash (?:ok|error)" role="status">([^<]*)</div>', response.text)
    return found.group(1) if found else ""


async def audit_actions(engine, order_id: str) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(audit_log).where(audit_log.c.order_id == order_id).order_by(audit_log.c.seq))
        return [(row.action, row.actor_role) for row in rows]


# A foreign billing address alone makes a checkout wait for a fraud review with these thresholds (as in
# tests/integration/test_fraud_review.py); velocity limits are lifted so repeated test checkouts do not add up.
LONDON = {"name": "Ada Lovelace", "line1": "1 Strand", "city": "London", "postal_code": "WC2N 5HR", "country": "GB"}


def fraud_review_settings(database_url: str, task_queue: str) -> Settings:
    lifted = 10_000
    return Settings(environment="test", database_url=database_url, task_queue=task_queue, fraud_review_score=25,
                    fraud_reject_score=45, fraud_review_timeout_seconds=86400, fraud_velocity_per_hour=lifted,
                    fraud_velocity_per_day=lifted, fraud_ip_velocity_per_hour=lifted, fraud_ip_velocity_per_day=lifted)


async def held_checkout(api, engine) -> str:
    """A real checkout (under ``fraud_review_settings``) waiting for support's fraud review decision; its id."""
    sku = await make_sku(engine, price=2500, stock={await make_location(engine): 5})
    started = await start_checkout(api, checkout_body(await cart_with(api, {sku: 1}), billing_address=LONDON))
    checkout_id = started.json()["checkout_id"]

    async def in_review():
        return (await api.get(f"/checkouts/{checkout_id}")).json().get("step") == "fraud_review"

    await eventually(in_review, what="the checkout to wait for a fraud review")
    return checkout_id
