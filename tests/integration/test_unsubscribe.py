"""Unsubscribe from cart reminders against real PostgreSQL and the API: signed links in the .eml,
a GET that only asks, a POST (form or RFC 8058 one-click) that suppresses, and no more reminders."""

import uuid
from email import message_from_bytes, policy
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select
from temporalio.testing import ActivityEnvironment

from activities.cart_recovery import CartRecoveryActivities
from adapters.local.email import OutboxEmailSender
from db import cart_recovery as reminder_store
from db import suppressions
from db.tables import email_suppressions
from models.unsubscribe import UnsubscribeLinks
from tests.factories import make_location, make_sku

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture(scope="module")
def links(settings) -> UnsubscribeLinks:
    """What the worker signs with, from the same settings the API verifies with."""
    return settings.unsubscribe_links


@pytest.fixture
def public(api_as):
    """A recipient's browser or mail client: no API key."""
    return api_as(None)


async def _cart(api, engine, email: str) -> str:
    sku = await make_sku(engine, price=1500, stock={await make_location(engine): 5})
    created = await api.post("/carts", json={"currency": "USD", "email": email})
    assert created.status_code == 201, created.text
    cart_id = created.json()["id"]
    assert (await api.post(f"/carts/{cart_id}/lines", json={"sku": sku, "quantity": 2})).status_code == 201
    return cart_id


def _address() -> str:
    return f"Shopper.{uuid.uuid4().hex[:8]}@Example.com"


def _relative(url: str) -> str:
    """The link's path and query, to call the in-process app with."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def _rows(engine, email: str) -> list:
    async with engine.connect() as conn:
        found = await conn.execute(select(email_suppressions).where(email_suppressions.c.email == email.lower()))
        return list(found)


async def test_reminder_eml_carries_list_unsubscribe_headers_and_a_link_that_verifies(
        api, public, engine, settings, links, tmp_path):
    email = _address()
    cart_id = await _cart(api, engine, email)
    acts = CartRecoveryActivities(engine, OutboxEmailSender(tmp_path), links)

    assert await ActivityEnvironment().run(acts.send_cart_reminder, cart_id, 1, False) == "sent"

    (eml,) = tmp_path.glob("*.eml")
    sent = message_from_bytes(eml.read_bytes(), policy=policy.default)
    header = sent["List-Unsubscribe"]
    assert header.startswith("<") and header.endswith(">")
    url = header[1:-1]
    assert url.startswith(f"{settings.public_url}/unsubscribe?")
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    query = parse_qs(urlsplit(url).query)
    assert query["email"] == [email.lower()]
    verifier = UnsubscribeLinks(settings.unsubscribe_key, "https://elsewhere.example")  # the API's key
    assert verifier.verify(query["email"][0], query["token"][0])
    assert url in sent.get_body(("plain",)).get_content()
    assert url.replace("&", "&amp;") in sent.get_body(("html",)).get_content()

    page = await public.get(_relative(url))  # the link in the email works as it is
    assert page.status_code == 200 and '<form method="post"' in page.text


async def test_get_shows_a_confirmation_page_and_suppresses_nothing(public, engine, links):
    email = _address()
    page = await public.get(_relative(links.url(email)))

    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    assert '<form method="post" action="unsubscribe">' in page.text and "<button" in page.text
    assert f'name="token" value="{links.token(email)}"' in page.text
    assert await _rows(engine, email) == []


async def test_one_click_post_suppresses_once_and_answers_200_every_time(public, engine, links):
    email = _address()
    url = _relative(links.url(email))

    first = await public.post(url, data=ONE_CLICK)
    second = await public.post(url, data=ONE_CLICK)

    assert (first.status_code, second.status_code) == (200, 200), first.text
    assert "You are unsubscribed" in first.text
    [row] = await _rows(engine, email)
    assert (row.email, row.reason, row.source) == (email.lower(), "unsubscribed", "one_click")
    async with engine.connect() as conn:
        assert await suppressions.is_suppressed(conn, email.upper())
    again = await public.get(url)
    assert again.status_code == 200 and "You are unsubscribed" in again.text and "<form" not in again.text


async def test_multipart_one_click_and_the_confirmation_form_both_suppress(public, engine, links):
    multipart, form = _address(), _address()

    by_multipart = await public.post(_relative(links.url(multipart)), files={"List-Unsubscribe": (None, "One-Click")})
    by_form = await public.post("/unsubscribe", data={"email": form, "token": links.token(form)})

    assert (by_multipart.status_code, by_form.status_code) == (200, 200), (by_multipart.text, by_form.text)
    assert [row.source for row in await _rows(engine, multipart)] == ["one_click"]
    assert [row.source for row in await _rows(engine, form)] == ["unsubscribe_page"]


def _bad_links(links: UnsubscribeLinks, email: str) -> dict[str, str]:
    token = links.token(email)
    return {
        "missing token": f"/unsubscribe?email={email}",
        "missing email": f"/unsubscribe?token={token}",
        "nothing": "/unsubscribe",
        "tampered token": f"/unsubscribe?email={email}&token={token[:-1]}{'0' if token[-1] != '0' else '1'}",
        "another address's token": f"/unsubscribe?email={email}&token={links.token('someone@example.com')}",
        "token of another secret": f"/unsubscribe?email={email}&token="
                                   f"{UnsubscribeLinks('not-ours', 'https://x').token(email)}",
        "non-ASCII token": f"/unsubscribe?email={email}&token=%C3%A9%C3%A9",
        "overlong email": f"/unsubscribe?email={'a' * 400}@example.com&token={token}",
    }


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_bad_or_missing_token_is_400_with_a_code_and_records_nothing(public, engine, links, method):
    email = _address().lower()
    for case, url in _bad_links(links, email).items():
        response = await public.request(method, url, data=ONE_CLICK if method == "POST" else None)
        assert response.status_code == 400, (case, response.status_code, response.text)
        assert response.json()["error"]["code"] == "invalid_unsubscribe_token", case
    assert await _rows(engine, email) == []
    assert await _rows(engine, "someone@example.com") == []


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_browser_gets_a_readable_400_page_for_a_broken_link(public, engine, links, method):
    email = _address().lower()
    url = _bad_links(links, email)["tampered token"]
    response = await public.request(method, url, data={"email": email} if method == "POST" else None,
                                    headers={"Accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "This unsubscribe link does not work" in response.text and "invalid_unsubscribe_token" in response.text
    assert await _rows(engine, email) == []


async def test_odd_bodies_are_client_errors_not_500(public, engine, links):
    email = _address().lower()
    json_body = await public.post("/unsubscribe", json={"email": email, "token": links.token(email)})
    broken = await public.post("/unsubscribe", content=b"--x\r\nnot multipart",
                               headers={"content-type": "multipart/form-data; boundary=x"})
    form_and_wrong_query = await public.post(f"/unsubscribe?email={email}&token={links.token(email)}",
                                             data={"token": "wrong"})

    assert json_body.status_code == 400 and json_body.json()["error"]["code"] == "invalid_unsubscribe_token"
    assert broken.status_code == 400 and "error" in broken.json()
    assert form_and_wrong_query.status_code == 400  # a form field wins over the query string
    assert await _rows(engine, email) == []


async def test_a_suppressed_address_gets_no_further_reminder(api, public, engine, links, tmp_path):
    email = _address()
    cart_id = await _cart(api, engine, email)
    outbox = OutboxEmailSender(tmp_path)
    acts, env = CartRecoveryActivities(engine, outbox, links), ActivityEnvironment()
    assert await env.run(acts.send_cart_reminder, cart_id, 1, False) == "sent"

    unsubscribed = await public.post(_relative(links.url(email)), data=ONE_CLICK)
    assert unsubscribed.status_code == 200, unsubscribed.text

    assert await env.run(acts.send_cart_reminder, cart_id, 2, False) == "suppressed"
    assert await env.run(acts.send_cart_reminder, cart_id, 3, True) == "suppressed"
    assert [path.name for path in tmp_path.glob("*.eml")] == [outbox.path_for(f"{cart_id}:cart_reminder:1").name]
    async with engine.connect() as conn:
        assert [r.reminder for r in await reminder_store.sent(conn, cart_id)] == [1]
        total = (await conn.execute(select(func.count()).select_from(email_suppressions)
                                    .where(email_suppressions.c.email == email.lower()))).scalar_one()
    assert total == 1
