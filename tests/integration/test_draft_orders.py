"""Draft orders end to end: support builds a draft (its own cart, the cart quote), completes it by phone or mails
an invoice whose link lets the customer's storefront check it out; every refusal has its code.

Real app, PostgreSQL, Temporal worker and local providers; the invoice goes to this module's outbox.
"""

import email
import re
import uuid
from datetime import UTC, datetime, timedelta
from email import policy
from urllib.parse import parse_qs, urlparse

import pytest_asyncio
from sqlalchemy import select, update

from adapters.factory import Adapters
from adapters.local.email import OutboxEmailSender
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from db import suppressions
from db.tables import audit_log, quotes
from models.draft_orders import invoice_workflow_id
from tests.factories import make_location, make_sku
from worker import DEV_STOREFRONT_LINKS
from tests.integration.checkout_helpers import ADDRESS, workflow_result

STOREFRONT = "https://shop.example.com"


@pytest_asyncio.fixture(scope="module")
def outbox(tmp_path_factory):
    return tmp_path_factory.mktemp("draft-outbox")


@pytest_asyncio.fixture(scope="module")
async def worker(temporal_env, engine, task_queue, outbox):
    """This module's worker mails into ``outbox``, with links to the storefront (the API's token secret)."""
    from models.customer_tokens import StorefrontLinks
    from worker import build_worker

    adapters = Adapters(payment=LocalPaymentGateway(engine=engine), tax=LocalTaxCalculator(),
                        shipping=LocalShippingCarrier(), email=OutboxEmailSender(outbox))
    links = StorefrontLinks(DEV_STOREFRONT_LINKS.tokens, STOREFRONT)
    async with build_worker(temporal_env.client, task_queue, engine, adapters, links=links) as running:
        yield running


@pytest_asyncio.fixture(scope="module")
async def warehouse(engine):
    return await make_location(engine)


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def draft_body(sku: str, quantity: int = 2, **overrides) -> dict:
    return {"lines": [{"sku": sku, "quantity": quantity}], "email": f"buyer-{uuid.uuid4().hex[:6]}@example.com",
            "shipping_address": ADDRESS, "note": "phone order", **overrides}


async def new_draft(support, engine, warehouse, *, stock: int = 10, quantity: int = 2, price: int = 2500) -> dict:
    sku = await make_sku(engine, price=price, stock={warehouse: stock})
    created = await support.post("/draft-orders", json=draft_body(sku, quantity), headers=key())
    assert created.status_code == 201, created.text
    return {**created.json(), "sku": sku}


def code(response) -> str:
    return response.json()["error"]["code"]


async def checkout_ended(temporal, api, draft: dict) -> dict:
    """The draft once its checkout workflow ended (awaited, not polled)."""
    await workflow_result(temporal, f"checkout-{draft['checkout_id']}")
    response = await api.get(f"/draft-orders/{draft['draft_id']}")
    assert response.status_code == 200, response.text
    return response.json()


async def audit_actions(engine, draft_id: str) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(audit_log.c.action, audit_log.c.actor_role)
                                  .where(audit_log.c.target == draft_id).order_by(audit_log.c.seq))
    return [tuple(row) for row in rows]


# ---------------------------------------------------------------- create
async def test_a_draft_holds_its_own_cart_and_answers_the_cart_quote(api_as, engine, warehouse):
    support = api_as("support")
    draft = await new_draft(support, engine, warehouse)

    assert draft["draft_id"].startswith("dft_") and draft["status"] == "open"
    cart_quote = await support.post(f"/carts/{draft['cart_id']}/quote", json={
        "shipping_address": ADDRESS, "email": draft["email"]})
    assert cart_quote.status_code == 200, cart_quote.text
    assert draft["quote"] == cart_quote.json()  # the same code: an unchanged cart answers the same quote
    assert draft["quote"]["lines"][0]["quantity"] == 2 and draft["quote"]["subtotal"] == 5000
    assert await audit_actions(engine, draft["draft_id"]) == [("draft_order.create", "support")]


async def test_a_replayed_key_answers_the_same_draft_and_another_body_is_refused(api_as, engine, warehouse):
    support = api_as("support")
    sku = await make_sku(engine, stock={warehouse: 10})
    body, headers = draft_body(sku), key()
    first = await support.post("/draft-orders", json=body, headers=headers)
    again = await support.post("/draft-orders", json=body, headers=headers)
    other = await support.post("/draft-orders", json={**body, "email": "else@example.com"}, headers=headers)

    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["draft_id"] == first.json()["draft_id"]
    assert again.json()["cart_id"] == first.json()["cart_id"]
    assert other.status_code == 409 and code(other) == "idempotency_key_reused"


async def test_bad_drafts_are_refused_with_a_code(api_as, engine, warehouse):
    support = api_as("support")
    sku = await make_sku(engine, stock={warehouse: 3})
    unknown = await support.post("/draft-orders", json=draft_body("SKU-NOPE"), headers=key())
    too_many = await support.post("/draft-orders", json=draft_body(sku, quantity=4), headers=key())
    empty = await support.post("/draft-orders", json={**draft_body(sku), "lines": []}, headers=key())
    keyless = await support.post("/draft-orders", json=draft_body(sku))
    storefront = await api_as("storefront").post("/draft-orders", json=draft_body(sku), headers=key())

    assert (unknown.status_code, code(unknown)) == (404, "unknown_sku")
    assert (too_many.status_code, code(too_many)) == (409, "insufficient_stock")
    assert too_many.json()["error"]["details"] == {"sku": sku, "requested": 4, "available": 3}
    assert (empty.status_code, code(empty)) == (422, "draft_empty")
    assert (keyless.status_code, code(keyless)) == (400, "idempotency_key_required")
    assert storefront.status_code == 403


# ---------------------------------------------------------------- change, cancel
async def test_a_change_quotes_again_and_a_cancelled_draft_refuses_everything(api_as, engine, warehouse):
    support = api_as("support")
    draft = await new_draft(support, engine, warehouse)
    path = f"/draft-orders/{draft['draft_id']}"

    changed = await support.patch(path, json={"lines": [{"sku": draft["sku"], "quantity": 3}], "note": "one more"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["quote"]["subtotal"] == 7500 and changed.json()["quote"]["quote_id"] != \
        draft["quote"]["quote_id"]
    over = await support.patch(path, json={"lines": [{"sku": draft["sku"], "quantity": 11}]})
    assert (over.status_code, code(over)) == (409, "insufficient_stock")

    cancelled = await support.delete(path, params={"reason": "customer changed their mind"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    refusals = [await support.patch(path, json={"shipping_speed": "express"}),
                await support.delete(path),
                await support.post(f"{path}/quote"),
                await support.post(f"{path}/send-invoice"),
                await support.post(f"{path}/complete", json={"payment_method": "pm_card_visa"}, headers=key())]
    assert [(r.status_code, code(r)) for r in refusals] == [(409, "draft_cancelled")] * 5
    assert await audit_actions(engine, draft["draft_id"]) == [
        ("draft_order.create", "support"), ("draft_order.update", "support"), ("draft_order.cancel", "support")]


async def test_an_unknown_draft_is_404(api_as):
    missing = await api_as("support").get("/draft-orders/dft_aaaaaaaaaaaaaaaaaaaaaaaaaa")
    assert (missing.status_code, code(missing)) == (404, "draft_not_found")


# ---------------------------------------------------------------- complete by phone
async def test_a_phone_order_completes_through_the_checkout_workflow(api_as, api, engine, warehouse, temporal_env):
    support = api_as("support")
    draft = await new_draft(support, engine, warehouse)
    path = f"/draft-orders/{draft['draft_id']}/complete"
    headers = key()

    completed = await support.post(path, json={"payment_method": "pm_card_visa"}, headers=headers)
    assert completed.status_code == 202, completed.text
    started = completed.json()
    assert started["status"] == "completed" and started["checkout_id"].startswith("chk_")

    done = await checkout_ended(temporal_env.client, support, started)
    assert done["checkout_status"] == "completed" and done["order_id"] == started["order_id"]
    order = await api.get(f"/orders/{done['order_id']}")
    assert order.status_code == 200, order.text
    assert order.json()["totals"]["total"] == draft["quote"]["total"]
    assert order.json()["email"] == draft["email"]

    replayed = await support.post(path, json={"payment_method": "pm_card_visa"}, headers=headers)
    another = await support.post(path, json={"payment_method": "pm_card_visa"}, headers=key())
    assert replayed.status_code == 202 and replayed.json()["checkout_id"] == started["checkout_id"]
    assert (another.status_code, code(another)) == (409, "draft_already_completed")
    changed = await support.patch(f"/draft-orders/{draft['draft_id']}", json={"shipping_speed": "express"})
    assert (changed.status_code, code(changed)) == (409, "draft_already_completed")
    assert [action for action, _ in await audit_actions(engine, draft["draft_id"])] == [
        "draft_order.create", "draft_order.complete"]


async def test_a_moved_price_fails_the_checkout_price_changed_and_reopens_the_draft(api_as, api, engine, warehouse,
                                                                                  temporal_env):
    support = api_as("support")
    draft = await new_draft(support, engine, warehouse)
    repriced = await api.put(f"/admin/catalog/variants/{draft['sku']}/prices",
                             json={"prices": [{"currency": "USD", "amount": 3000}]})
    assert repriced.status_code == 200, repriced.text

    started = await support.post(f"/draft-orders/{draft['draft_id']}/complete",
                                 json={"payment_method": "pm_card_visa"}, headers=key())
    assert started.status_code == 202, started.text
    failed = await checkout_ended(temporal_env.client, support, started.json())
    assert failed["status"] == "open" and failed["last_checkout_error"] == "price_changed"
    assert failed["checkout_id"] is None and failed["order_id"] is None

    # Re-quoted at the new price, the same draft completes.
    requoted = await support.post(f"/draft-orders/{draft['draft_id']}/quote")
    assert requoted.json()["quote"]["subtotal"] == 6000
    again = await support.post(f"/draft-orders/{draft['draft_id']}/complete",
                               json={"payment_method": "pm_card_visa"}, headers=key())
    assert (await checkout_ended(temporal_env.client, support, again.json()))["checkout_status"] == "completed"


async def test_a_declined_card_leaves_the_draft_open_for_another(api_as, engine, warehouse, temporal_env):
    support = api_as("support")
    draft = await new_draft(support, engine, warehouse)
    path = f"/draft-orders/{draft['draft_id']}/complete"

    declined = await support.post(path, json={"payment_method": "pm_card_chargeDeclined"}, headers=key())
    after = await checkout_ended(temporal_env.client, support, declined.json())
    assert after["status"] == "open" and after["last_checkout_error"] == "payment_declined"

    longest_key = {"Idempotency-Key": uuid.uuid4().hex.ljust(255, "k")}  # the header's longest still fits
    paid = await support.post(path, json={"payment_method": "pm_card_visa"}, headers=longest_key)
    assert paid.status_code == 202, paid.text
    assert (await checkout_ended(temporal_env.client, support, paid.json()))["checkout_status"] == "completed"


async def test_a_completion_refused_before_its_checkout_leaves_the_draft_open(api_as, engine, warehouse):
    support = api_as("support")
    draft = await new_draft(support, engine, warehouse)
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with engine.begin() as conn:
        await conn.execute(update(quotes).where(quotes.c.id == draft["quote"]["quote_id"]).values(
            expires_at=past, body={**draft["quote"], "expires_at": past.isoformat()}))

    refused = await support.post(f"/draft-orders/{draft['draft_id']}/complete",
                                 json={"payment_method": "pm_card_visa"}, headers=key())

    assert (refused.status_code, code(refused)) == (422, "quote_expired")
    after = (await support.get(f"/draft-orders/{draft['draft_id']}")).json()
    assert after["status"] == "open" and after["checkout_id"] is None
    assert (await support.post(f"/draft-orders/{draft['draft_id']}/quote")).json()["quote"]["quote_id"] != \
        draft["quote"]["quote_id"]


# ---------------------------------------------------------------- the invoice
def invoices_to(outbox, address: str) -> list:
    found = []
    for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] == address:
            found.append(message)
    return found


async def invoice(support, temporal, draft: dict) -> dict:
    sent = await support.post(f"/draft-orders/{draft['draft_id']}/send-invoice", json={"note": "as agreed"})
    assert sent.status_code == 200, sent.text
    assert await workflow_result(temporal, invoice_workflow_id(draft["draft_id"], draft["quote"]["quote_id"])) \
        in ("sent", "suppressed")
    return sent.json()


async def test_an_invoice_link_lets_the_storefront_check_the_draft_out(api_as, engine, warehouse, temporal_env,
                                                                       outbox):
    support, storefront = api_as("support"), api_as("storefront")
    draft = await new_draft(support, engine, warehouse)

    invoiced = await invoice(support, temporal_env.client, draft)
    assert invoiced["status"] == "invoiced" and invoiced["invoiced_total"] == draft["quote"]["total"]
    await invoice(support, temporal_env.client, draft)  # idempotent: the same quote is invoiced once
    [message] = invoices_to(outbox, draft["email"])
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    url = re.search(rf"{re.escape(STOREFRONT)}/draft-orders/\S+", text).group(0)
    assert urlparse(url).path == f"/draft-orders/{draft['draft_id']}" and url.replace("&", "&amp;") in html
    token = parse_qs(urlparse(url).query)["cart_token"][0]

    path = f"/draft-orders/{draft['draft_id']}/checkout"
    body = {"payment_method": "pm_card_visa"}
    stranger = await storefront.post(path, json=body, headers={**key(), "X-Cart-Token": "not-the-token"})
    assert (stranger.status_code, code(stranger)) == (404, "draft_not_found")
    started = await storefront.post(path, json=body, headers={**key(), "X-Cart-Token": token})
    assert started.status_code == 202, started.text

    await workflow_result(temporal_env.client, f"checkout-{started.json()['checkout_id']}")
    checkout = await storefront.get(f"/checkouts/{started.json()['checkout_id']}", headers={"X-Cart-Token": token})
    assert checkout.json()["status"] == "completed" and checkout.json()["order_token"]
    done = (await support.get(f"/draft-orders/{draft['draft_id']}")).json()
    assert done["status"] == "completed" and done["order_id"] == checkout.json()["order_id"]
    assert [action for action, _ in await audit_actions(engine, draft["draft_id"])] == [
        "draft_order.create", "draft_order.send_invoice"]


async def test_a_checkout_started_with_the_cart_token_completes_the_draft(api_as, engine, warehouse, temporal_env):
    """The invoice link's token also opens the draft's cart to a plain POST /checkouts: the draft follows it."""
    support, storefront = api_as("support"), api_as("storefront")
    draft = await new_draft(support, engine, warehouse)
    token = DEV_STOREFRONT_LINKS.tokens.cart_token(draft["cart_id"])

    started = await storefront.post("/checkouts", headers={**key(), "X-Cart-Token": token}, json={
        "cart_id": draft["cart_id"], "email": draft["email"], "shipping_address": ADDRESS,
        "payment_method": "pm_card_visa", "quote_id": draft["quote"]["quote_id"]})
    assert started.status_code == 202, started.text
    await workflow_result(temporal_env.client, f"checkout-{started.json()['checkout_id']}")

    after = (await support.get(f"/draft-orders/{draft['draft_id']}")).json()
    assert after["status"] == "completed" and after["checkout_id"] == started.json()["checkout_id"]
    assert after["checkout_status"] == "completed" and after["order_id"]
    another = await support.post(f"/draft-orders/{draft['draft_id']}/complete",
                                 json={"payment_method": "pm_card_visa"}, headers=key())
    assert (another.status_code, code(another)) == (409, "draft_already_completed")


async def test_the_storefront_route_needs_an_invoiced_draft(api_as, engine, warehouse):
    support = api_as("support")
    draft = await new_draft(support, engine, warehouse)
    refused = await support.post(f"/draft-orders/{draft['draft_id']}/checkout",
                                 json={"payment_method": "pm_card_visa"}, headers=key())
    assert (refused.status_code, code(refused)) == (409, "draft_not_invoiced")


async def test_a_suppressed_address_gets_no_invoice(api_as, engine, warehouse, temporal_env, outbox):
    support = api_as("support")
    draft = await new_draft(support, engine, warehouse)
    async with engine.begin() as conn:
        await suppressions.suppress(conn, draft["email"], source="test")

    invoiced = await invoice(support, temporal_env.client, draft)

    assert invoiced["status"] == "invoiced"
    assert await workflow_result(temporal_env.client, invoice_workflow_id(
        draft["draft_id"], draft["quote"]["quote_id"])) == "suppressed"
    assert invoices_to(outbox, draft["email"]) == []


# ---------------------------------------------------------------- privacy
async def test_an_erased_customer_leaves_no_address_or_email_on_their_drafts(api_as, engine, warehouse):
    support = api_as("support")
    draft = await new_draft(support, engine, warehouse)
    signed_up = await api_as("storefront").post("/customers", json={"email": draft["email"],
                                                                    "password": "correct horse battery"})
    customer_id = signed_up.json()["customer"]["id"]
    exported = (await support.get(f"/customers/{customer_id}/export")).json()
    assert [row["id"] for row in exported["draft_orders"]] == [draft["draft_id"]]

    erased = await support.post(f"/customers/{customer_id}/erase", json={"reason": "ticket 9"})

    assert erased.status_code == 200, erased.text
    after = (await support.get(f"/draft-orders/{draft['draft_id']}")).json()
    assert after["email"].endswith(".invalid") and after["email"] != draft["email"]
    assert after["shipping_address"]["line1"] == after["shipping_address"]["name"] == "[erased]"
    assert draft["email"] not in (await support.get(f"/customers/{customer_id}/export")).text
