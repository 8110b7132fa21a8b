"""Driving the console over HTTP the way a browser does: a cookie-keeping client, forms sent with the page's CSRF
token, redirects followed one hop at a time."""

import re

from httpx import ASGITransport, AsyncClient
from sqlalchemy import select

from db.tables import audit_log


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
