"""Customers and the storefront trust boundary, over HTTP against the real app, database and worker.

A storefront key acts for one shopper: every route it may call that touches a cart, order or
subscription is walked with a foreign customer's proofs and must answer the resource's own 404.
"""

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import select

from api import access
from db.tables import audit_log, cart_lines, orders, returns, subscriptions
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import (
    ADDRESS, cart_headers, cart_with, checkout_body, eventually, finished_checkout, start_checkout,
)

PASSWORD = "correct horse battery"
OWNED_RULES = {access.CART, access.CART_IN_BODY, access.CHECKOUT, access.ORDER, access.RETURN, access.SUBSCRIPTION}
NOT_FOUND = {access.CART: "cart_not_found", access.CART_IN_BODY: "cart_not_found",
             access.CHECKOUT: "checkout_not_found", access.ORDER: "order_not_found",
             access.RETURN: "return_not_found", access.SUBSCRIPTION: "subscription_not_found"}


def error_code(response) -> str:
    return response.json()["error"]["code"]


async def sign_up(storefront, email: str, **extra) -> tuple[str, str]:
    created = await storefront.post("/customers", json={"email": email, "password": PASSWORD, **extra})
    assert created.status_code == 201, created.text
    return created.json()["customer"]["id"], created.json()["customer_token"]


def as_customer(token: str) -> dict[str, str]:
    return {"X-Customer-Token": token}


def subscription_body(sku: str) -> dict:
    # The first renewal a month away: nothing renews while the test runs.
    return {"email": "owner@example.com", "payment_method": "pm_card_visa", "shipping_address": ADDRESS,
            "lines": [{"sku": sku, "quantity": 1}], "interval": "monthly",
            "anchor_date": (datetime.now(UTC) + timedelta(days=30)).date().isoformat()}


@pytest_asyncio.fixture(scope="module")
async def world(api_as, temporal_env, engine):
    """Customer A's cart, completed checkout (order), return and subscription; customer B with proofs of
    their own (their token, their cart's token, an order token of another order)."""
    storefront = api_as("storefront")
    sku = await make_sku(engine, stock={await make_location(engine): 50})
    owner_id, owner_token = await sign_up(storefront, f"owner-{uuid.uuid4().hex[:6]}@example.com")
    _, stranger_token = await sign_up(storefront, f"stranger-{uuid.uuid4().hex[:6]}@example.com")

    cart = await storefront.post("/carts", json={}, headers=as_customer(owner_token))
    cart_id = cart.json()["id"]
    added = await storefront.post(f"/carts/{cart_id}/lines", json={"sku": sku, "quantity": 2},
                                  headers=as_customer(owner_token))
    assert added.status_code == 201, added.text
    started = await storefront.post("/checkouts", json=checkout_body(cart_id),
                                    headers={"Idempotency-Key": str(uuid.uuid4()), **as_customer(owner_token)})
    assert started.status_code == 202, started.text
    checkout_id = started.json()["checkout_id"]
    await temporal_env.client.get_workflow_handle(f"checkout-{checkout_id}").result()
    done = (await storefront.get(f"/checkouts/{checkout_id}", headers=as_customer(owner_token))).json()
    assert done["status"] == "completed", done

    rma_id = f"rma_{uuid.uuid4().hex[:26]}"
    async with engine.begin() as conn:  # a return row is all the ownership check reads
        await conn.execute(returns.insert().values(id=rma_id, order_id=done["order_id"], workflow_id=f"return-{rma_id}",
                                                   lines=[{"sku": sku, "quantity": 1, "reason": "too_small"}]))
    subscription = await storefront.post("/subscriptions", json=subscription_body(sku),
                                         headers={"Idempotency-Key": str(uuid.uuid4()), **as_customer(owner_token)})
    assert subscription.status_code == 201, subscription.text

    stranger_cart = await storefront.post("/carts", json={}, headers=as_customer(stranger_token))
    line_id = (await storefront.get(f"/carts/{cart_id}", headers=as_customer(owner_token))).json()["lines"][0]["id"]
    return {
        "sku": sku, "owner_id": owner_id, "owner_token": owner_token, "cart_id": cart_id, "line_id": line_id,
        "checkout_id": checkout_id, "order_id": done["order_id"], "order_token": done["order_token"],
        "rma_id": rma_id, "subscription_id": subscription.json()["id"],
        "stranger": {"X-Customer-Token": stranger_token, "X-Cart-Token": stranger_cart.headers["X-Cart-Token"],
                     # a genuine guest token, of someone else's order
                     "X-Order-Token": (await _guest_order(storefront, temporal_env, sku))["order_token"]},
    }


async def _guest_order(storefront, temporal_env, sku: str) -> dict:
    cart_id = await cart_with(storefront, {sku: 1})
    started = await start_checkout(storefront, checkout_body(cart_id, email="guest@example.com"))
    assert started.status_code == 202, started.text
    done = await finished_checkout(storefront, temporal_env.client, started.json()["checkout_id"])
    assert done["status"] == "completed" and done["order_token"], done
    return done


def _path(route: str, world: dict) -> str:
    params = {"cart_id": world["cart_id"], "line_id": world["line_id"], "code": "SAVE10",
              "checkout_id": world["checkout_id"], "order_id": world["order_id"], "rma_id": world["rma_id"],
              "subscription_id": world["subscription_id"]}
    return re.sub(r"\{([^}]+)\}", lambda match: params[match.group(1)], route.split(" ")[1])


def _body(route: str, world: dict) -> dict | None:
    if route == "POST /checkouts":
        return checkout_body(world["cart_id"])
    return {"POST /carts/{cart_id}/lines": {"sku": world["sku"], "quantity": 5},
            "PATCH /carts/{cart_id}/lines/{line_id}": {"quantity": 7},
            "PUT /carts/{cart_id}/email": {"email": "thief@example.com"},
            "POST /carts/{cart_id}/quote": {"shipping_address": ADDRESS},
            "POST /carts/{cart_id}/discount-codes": {"code": "SAVE10"},
            "POST /subscriptions/{subscription_id}/cancel": {},
            "POST /subscriptions/{subscription_id}/payment-method": {"payment_method": "pm_card_visa"},
            }.get(route)


def test_every_storefront_route_states_its_ownership_rule():
    from models.auth import allows

    storefront_routes = {route for route, permission in access.ROUTE_PERMISSIONS.items()
                         if permission is not None and allows("storefront", permission)}
    assert storefront_routes == set(access.ROUTE_OWNERSHIP), "state whose resource each storefront route touches"


async def test_a_foreign_customer_gets_404_on_every_owned_route(api_as, world, engine):
    storefront = api_as("storefront")
    owned = sorted(route for route, rule in access.ROUTE_OWNERSHIP.items() if rule in OWNED_RULES)
    assert len(owned) >= 20
    answers = {}
    for route in owned:
        method = route.split(" ")[0]
        response = await storefront.request(method, _path(route, world), json=_body(route, world), headers={
            **world["stranger"], "Idempotency-Key": str(uuid.uuid4())})
        answers[route] = (response.status_code, response.json().get("error", {}).get("code"))
    expected = {route: (404, NOT_FOUND[access.ROUTE_OWNERSHIP[route]]) for route in owned}
    assert answers == expected

    # Refused means untouched: the owner's cart, email and subscription are as they were.
    async with engine.connect() as conn:
        quantities = (await conn.execute(select(cart_lines.c.quantity)
                                         .where(cart_lines.c.cart_id == world["cart_id"]))).scalars().all()
        status = (await conn.execute(select(subscriptions.c.status, subscriptions.c.cancel_at_period_end)
                                     .where(subscriptions.c.id == world["subscription_id"]))).one()
    assert quantities == [2] and tuple(status) == ("active", False)


async def test_a_foreign_id_answers_exactly_like_a_missing_one(api_as, world):
    storefront = api_as("storefront")
    foreign = await storefront.get(f"/orders/{world['order_id']}", headers=world["stranger"])
    missing = await storefront.get("/orders/ord_doesnotexist", headers=world["stranger"])
    assert foreign.json()["error"]["message"].replace(world["order_id"], "X") == \
        missing.json()["error"]["message"].replace("ord_doesnotexist", "X")


@pytest.mark.parametrize("route", [
    "GET /carts/{cart_id}", "GET /checkouts/{checkout_id}", "GET /orders/{order_id}",
    "GET /orders/{order_id}/refunds", "GET /orders/{order_id}/returns",
    "GET /returns/{rma_id}", "GET /subscriptions/{subscription_id}",
])
async def test_the_owner_token_opens_its_own_resources(api_as, world, route):
    response = await api_as("storefront").get(_path(route, world), headers=as_customer(world["owner_token"]))
    assert response.status_code == 200, response.text


async def test_the_owner_reaches_the_invoice(api_as, world):
    """Past the ownership check: the invoice exists once a parcel is captured, which here it is not yet."""
    response = await api_as("storefront").get(f"/orders/{world['order_id']}/invoice.pdf",
                                               headers=as_customer(world["owner_token"]))
    assert response.status_code == 409 and error_code(response) == "invoice_not_available"


async def test_the_owner_changes_its_subscription_and_nobody_else_does(api_as, world):
    storefront = api_as("storefront")
    path = f"/subscriptions/{world['subscription_id']}/skip"
    assert (await storefront.post(path, headers=world["stranger"])).status_code == 404
    skipped = await storefront.post(path, headers=as_customer(world["owner_token"]))
    assert skipped.status_code == 200 and skipped.json()["skip_next"] is True, skipped.text


async def test_support_acts_for_anyone_without_a_token(api_as, world):
    assert (await api_as("support").get(f"/orders/{world['order_id']}")).status_code == 200
    assert (await api_as("support").get(f"/subscriptions/{world['subscription_id']}")).status_code == 200


async def test_a_guest_reads_order_and_invoice_with_the_order_token_only(api_as, world, temporal_env):
    storefront = api_as("storefront")
    guest = await _guest_order(storefront, temporal_env, world["sku"])
    order_path, proof = f"/orders/{guest['order_id']}", {"X-Order-Token": guest["order_token"]}
    assert (await storefront.get(order_path, headers=proof)).json()["status"] in ("authorized", "captured",
                                                                              "partially_fulfilled", "fulfilled")
    invoice = await storefront.get(f"{order_path}/invoice.pdf", headers=proof)
    assert error_code(invoice) == "invoice_not_available"  # reached: it is issued once a parcel is captured
    assert error_code(await storefront.get(f"{order_path}/invoice.pdf")) == "order_not_found"
    assert (await storefront.get(order_path)).status_code == 404
    assert (await storefront.get(order_path, headers=as_customer(world["owner_token"]))).status_code == 404
    assert (await storefront.get(f"/orders/{world['order_id']}", headers=proof)).status_code == 404


async def test_a_guest_cart_needs_its_cart_token(api_as, world):
    storefront = api_as("storefront")
    cart_id = await cart_with(storefront, {world["sku"]: 1})
    assert (await storefront.get(f"/carts/{cart_id}", headers=cart_headers(cart_id))).status_code == 200
    bare = await storefront.post(f"/carts/{cart_id}/lines", json={"sku": world["sku"], "quantity": 1})
    assert bare.status_code == 404 and error_code(bare) == "cart_not_found"
    email = await storefront.put(f"/carts/{cart_id}/email", json={"email": "thief@example.com"})
    assert email.status_code == 404


async def test_sign_up_and_sign_in(api_as):
    storefront = api_as("storefront")
    email = f"Ada-{uuid.uuid4().hex[:6]}@Example.com"
    customer_id, token = await sign_up(storefront, email, name="Ada", marketing_consent=True)
    again = await storefront.post("/customers", json={"email": email.lower(), "password": "another password"})
    assert again.status_code == 409 and error_code(again) == "customer_exists"

    wrong = await storefront.post("/customers/sessions", json={"email": email, "password": "not the password"})
    unknown = await storefront.post("/customers/sessions", json={"email": "nobody@example.com", "password": PASSWORD})
    assert (wrong.status_code, error_code(wrong)) == (unknown.status_code, error_code(unknown)) == \
        (401, "invalid_credentials")
    signed_in = await storefront.post("/customers/sessions", json={"email": email.upper(), "password": PASSWORD})
    assert signed_in.status_code == 200 and signed_in.headers["cache-control"] == "no-store"
    me = await storefront.get("/me", headers=as_customer(signed_in.json()["customer_token"]))
    assert me.json() == {"id": customer_id, "email": email.lower(), "name": "Ada", "marketing_consent": True}


async def test_forged_or_expired_customer_tokens_are_refused(api_as, world, settings):
    storefront = api_as("storefront")
    token = world["owner_token"]
    prefix, customer_id, expires, mac = token.split(".")
    forged = ".".join([prefix, customer_id, str(int(expires) + 3600), mac])
    expired = settings.customer_tokens.customer_token(customer_id, datetime.now(UTC) - timedelta(days=30))
    for bad in (forged, expired, token[:-1] + ("0" if token[-1] != "0" else "1"), "garbage"):
        response = await storefront.get("/me", headers=as_customer(bad))
        assert response.status_code == 401 and error_code(response) == "customer_token_required"
        assert (await storefront.get(f"/orders/{world['order_id']}", headers=as_customer(bad))).status_code == 404


async def test_a_storefront_subscribes_only_a_signed_in_customer(api_as, world):
    response = await api_as("storefront").post("/subscriptions", json=subscription_body(world["sku"]),
                                               headers={"Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 401 and error_code(response) == "customer_token_required"


async def test_me_lists_own_orders_subscriptions_and_addresses(api_as, world):
    storefront = api_as("storefront")
    owner = as_customer(world["owner_token"])
    assert [order["id"] for order in (await storefront.get("/me/orders", headers=owner)).json()["orders"]] == \
        [world["order_id"]]
    assert [sub["id"] for sub in (await storefront.get("/me/subscriptions", headers=owner)).json()["subscriptions"]] \
        == [world["subscription_id"]]

    saved = await storefront.post("/me/addresses", json=ADDRESS, headers=owner)
    assert saved.status_code == 201, saved.text
    address_id = saved.json()["id"]
    assert [a["id"] for a in (await storefront.get("/me/addresses", headers=owner)).json()] == [address_id]
    stolen = await storefront.delete(f"/me/addresses/{address_id}", headers=world["stranger"])
    assert stolen.status_code == 404 and error_code(stolen) == "address_not_found"
    assert (await storefront.get("/me/addresses", headers=world["stranger"])).json() == []
    assert (await storefront.delete(f"/me/addresses/{address_id}", headers=owner)).status_code == 204
    assert (await storefront.get("/me/addresses", headers=owner)).json() == []
    assert (await storefront.get("/me/orders")).status_code == 401


async def test_export_and_erasure_keep_the_books_and_refuse_open_orders(api_as, world, temporal_env, engine):
    storefront, support = api_as("storefront"), api_as("support")
    email = f"erase-{uuid.uuid4().hex[:6]}@example.com"
    cart_id = await cart_with(storefront, {world["sku"]: 1})
    done = await finished_checkout(storefront, temporal_env.client, (await start_checkout(
        storefront, checkout_body(cart_id, email=email))).json()["checkout_id"])
    customer = (await support.get("/customers", params={"email": email.upper()})).json()
    assert customer["email"] == email and customer["has_password"] is False

    refused = await support.post(f"/customers/{customer['id']}/erase", json={"reason": "ticket 7"})
    assert refused.status_code == 409 and error_code(refused) == "customer_has_open_orders"
    assert refused.json()["error"]["details"]["open_orders"] == 1

    async def cancel():  # refused with order_not_ready until the order workflow has routed it
        response = await api_as("admin").post(f"/orders/{done['order_id']}/cancel", json={"reason": "asked to"})
        return response if response.status_code in (200, 202) else None

    assert await eventually(cancel)

    async def order_cancelled():
        return (await support.get(f"/orders/{done['order_id']}")).json()["status"] == "cancelled"

    assert await eventually(order_cancelled)
    exported = await support.get(f"/customers/{customer['id']}/export")
    assert exported.status_code == 200
    assert [o["id"] for o in exported.json()["orders"]] == [done["order_id"]]
    assert exported.json()["profile"]["email"] == email and "password_hash" not in exported.json()["profile"]
    assert exported.json()["orders"][0]["shipping_address"]["line1"] == ADDRESS["line1"]

    async with engine.connect() as conn:
        before = (await conn.execute(select(orders).where(orders.c.id == done["order_id"]))).one()
    erased = await support.post(f"/customers/{customer['id']}/erase", json={"reason": "ticket 7"})
    assert erased.status_code == 200 and erased.json()["already_erased"] is False, erased.text
    again = await support.post(f"/customers/{customer['id']}/erase", json={"reason": "ticket 7"})
    assert again.status_code == 200 and again.json()["already_erased"] is True

    async with engine.connect() as conn:
        after = (await conn.execute(select(orders).where(orders.c.id == done["order_id"]))).one()
        actions = (await conn.execute(select(audit_log.c.action, audit_log.c.actor_role)
                                      .where(audit_log.c.target == customer["id"]))).all()
    assert email not in str(after._asdict()) and ADDRESS["line1"] not in str(after.shipping_address)
    assert (after.total, after.tax_total, after.currency) == (before.total, before.tax_total, before.currency)
    assert after.shipping_address["postal_code"] == ADDRESS["postal_code"]  # the tax jurisdiction stays
    assert sorted(actions) == [("customer.erase", "support"), ("customer.erase", "support"),
                               ("customer.export", "support")]
    assert email not in (await support.get(f"/customers/{customer['id']}/export")).text
    assert (await support.get("/customers", params={"email": email})).status_code == 404


async def test_a_storefront_may_not_export_or_erase(api_as, world):
    storefront = api_as("storefront")
    assert (await storefront.get(f"/customers/{world['owner_id']}/export")).status_code == 403
    assert (await storefront.post(f"/customers/{world['owner_id']}/erase", json={"reason": "x"})).status_code == 403


async def test_failed_sign_ins_lock_the_account_for_a_while(api_as, settings):
    storefront = api_as("storefront")
    email = f"guessed-{uuid.uuid4().hex[:6]}@example.com"
    await sign_up(storefront, email)
    other = f"bystander-{uuid.uuid4().hex[:6]}@example.com"
    await sign_up(storefront, other)
    for attempt in range(settings.auth_failure_limit):
        wrong = await storefront.post("/customers/sessions", json={"email": email, "password": f"guess {attempt}"})
        assert wrong.status_code == 401, wrong.text
    locked = await storefront.post("/customers/sessions", json={"email": email.upper(), "password": PASSWORD})
    assert locked.status_code == 429 and error_code(locked) == "too_many_failed_logins"
    assert 0 < int(locked.headers["Retry-After"]) <= settings.auth_failure_window_seconds
    assert (await storefront.post("/customers/sessions", json={"email": other, "password": PASSWORD})).status_code == 200


async def test_an_erased_customers_token_names_nobody(api_as):
    storefront = api_as("storefront")
    email = f"gone-{uuid.uuid4().hex[:6]}@example.com"
    customer_id, token = await sign_up(storefront, email)
    cart_id = (await storefront.post("/carts", json={}, headers=as_customer(token))).json()["id"]
    assert (await storefront.get(f"/carts/{cart_id}", headers=as_customer(token))).status_code == 200

    erased = await api_as("support").post(f"/customers/{customer_id}/erase", json={"reason": "ticket 9"})
    assert erased.status_code == 200, erased.text
    me = await storefront.get("/me", headers=as_customer(token))
    assert me.status_code == 401 and error_code(me) == "customer_token_required"
    assert (await storefront.get(f"/carts/{cart_id}", headers=as_customer(token))).status_code == 404
    signed_in = await storefront.post("/customers/sessions", json={"email": email, "password": PASSWORD})
    assert signed_in.status_code == 401
