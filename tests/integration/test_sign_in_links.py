"""One-time sign-in links: how a guest claims their orders, and how a forgotten password is reset.

Real app, database, Temporal worker; the email goes to this module's outbox, where the test reads the link.
"""

import dataclasses
import email
import re
import uuid
from datetime import UTC, datetime, timedelta
from email import policy
from urllib.parse import parse_qs, urlparse

import pytest_asyncio
from sqlalchemy import update
from temporalio.testing import ActivityEnvironment

from activities.sign_in_links import SignInLinkActivities
from adapters.factory import Adapters
from adapters.local.email import OutboxEmailSender
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from db import customers
from db.tables import sign_in_links
from models import workflow_ids
from models.sign_in_links import SignInLinkRequest
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import cart_with, checkout_body, eventually, finished_checkout, start_checkout

SIGN_IN_PAGE = "https://shop.example.com/account/sign-in"
PASSWORD = "a brand new passphrase"


@pytest_asyncio.fixture(scope="module")
def outbox(tmp_path_factory):
    return tmp_path_factory.mktemp("sign-in-outbox")


@pytest_asyncio.fixture(scope="module")
async def worker(temporal_env, engine, task_queue, outbox):
    """This module's worker mails into ``outbox`` and links to the storefront's sign-in page."""
    from worker import build_worker

    adapters = Adapters(payment=LocalPaymentGateway(), tax=LocalTaxCalculator(), shipping=LocalShippingCarrier(),
                        email=OutboxEmailSender(outbox))
    async with build_worker(temporal_env.client, task_queue, engine, adapters, sign_in_page=SIGN_IN_PAGE) as running:
        yield running


def links_mailed_to(outbox, address: str) -> list[str]:
    tokens = []
    for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] == address and message["Subject"] == "Your sign-in link":
            url = re.search(r"https://\S+", message.get_body(("plain",)).get_content()).group(0)
            assert url.startswith(SIGN_IN_PAGE + "?token=")
            tokens.append(parse_qs(urlparse(url).query)["token"][0])
    return tokens


async def mailed_token(outbox, address: str, already: int = 0) -> str:
    async def probe():
        tokens = links_mailed_to(outbox, address)
        return tokens[already] if len(tokens) > already else None

    token = await eventually(probe)
    assert token, f"no sign-in link reached {address}"
    return token


async def test_a_guest_claims_their_orders_with_a_mailed_link(api_as, engine, temporal_env, outbox):
    storefront = api_as("storefront")
    guest = f"guest-{uuid.uuid4().hex[:6]}@example.com"
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    cart_id = await cart_with(storefront, {sku: 1})
    done = await finished_checkout(storefront, temporal_env.client, (await start_checkout(
        storefront, checkout_body(cart_id, email=guest))).json()["checkout_id"], cart_id)
    refused = await storefront.post("/customers", json={"email": guest, "password": PASSWORD})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "customer_exists"

    asked = await storefront.post("/customers/sign-in-links", json={"email": guest.upper()})
    assert asked.status_code == 202, asked.text
    token = await mailed_token(outbox, guest)
    claimed = await storefront.post("/customers/sign-in-links/redeem", json={"token": token, "password": PASSWORD})
    assert claimed.status_code == 200, claimed.text
    mine = await storefront.get("/me/orders", headers={"X-Customer-Token": claimed.json()["customer_token"]})
    assert [order["id"] for order in mine.json()["orders"]] == [done["order_id"]]

    signed_in = await storefront.post("/customers/sessions", json={"email": guest, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    again = await storefront.post("/customers/sign-in-links/redeem", json={"token": token})
    assert again.status_code == 401 and again.json()["error"]["code"] == "invalid_sign_in_link"


async def test_unknown_addresses_get_the_same_answer_and_no_mail(api_as, outbox):
    stranger = f"nobody-{uuid.uuid4().hex[:6]}@example.com"
    asked = await api_as("storefront").post("/customers/sign-in-links", json={"email": stranger})
    assert asked.status_code == 202 and asked.json() == {"status": "accepted"}
    assert links_mailed_to(outbox, stranger) == []


async def test_an_expired_or_forged_link_signs_nobody_in(api_as, engine, outbox):
    storefront = api_as("storefront")
    address = f"late-{uuid.uuid4().hex[:6]}@example.com"
    assert (await storefront.post("/customers", json={"email": address, "password": PASSWORD})).status_code == 201
    assert (await storefront.post("/customers/sign-in-links", json={"email": address})).status_code == 202
    token = await mailed_token(outbox, address)
    async with engine.begin() as conn:
        customer = await customers.by_email(conn, address)
        await conn.execute(update(sign_in_links).where(sign_in_links.c.customer_id == customer.id)
                           .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    for attempt in (token, "x" * 43):
        refused = await storefront.post("/customers/sign-in-links/redeem", json={"token": attempt})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_sign_in_link"


async def test_a_retried_send_leaves_only_the_newest_link_working(api_as, engine, tmp_path):
    address = f"retry-{uuid.uuid4().hex[:6]}@example.com"
    async with engine.begin() as conn:
        customer_id = await customers.for_checkout(conn, address)
    activities = SignInLinkActivities(engine, OutboxEmailSender(tmp_path), SIGN_IN_PAGE)
    request = SignInLinkRequest(link_id=workflow_ids.sign_in_link(customer_id, 1), customer_id=customer_id)
    for attempt in (1, 2):  # the first send's answer was lost: Temporal runs the activity again
        environment = ActivityEnvironment()
        environment.info = dataclasses.replace(environment.info, attempt=attempt)
        assert await environment.run(activities.send_sign_in_link, request) is True
    first, second = links_mailed_to(tmp_path, address)
    storefront = api_as("storefront")
    stale = await storefront.post("/customers/sign-in-links/redeem", json={"token": first})
    assert stale.status_code == 401
    fresh = await storefront.post("/customers/sign-in-links/redeem", json={"token": second})
    assert fresh.status_code == 200 and fresh.json()["customer"]["email"] == address
