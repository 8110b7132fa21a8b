"""API keys, roles and the audit log, over HTTP against the real app and database."""

import asyncio
import hashlib
import logging
import os
import re
import sys
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from api.access import ROUTE_PERMISSIONS
from db.tables import api_keys, audit_log
from models.auth import ROLES
from tests.conftest import api_client
from tests.factories import make_location, make_sku
from tests.helpers import eventually
from tests.integration.checkout_helpers import cart_with, checkout_to_end

ORDERFLOW = Path(sys.executable).parent / "orderflow"

# Who may call a route of each level (a role is a job, not a rung: models/auth.py).
ALLOWED = {
    "public": {None, *ROLES},
    "read": set(ROLES),  # the catalog, stock and (with ownership) orders: every key
    "storefront": {"storefront", "support", "ops", "admin"},  # shopping for a customer
    "queues": {"warehouse", "support", "ops", "admin"},
    "warehouse": {"warehouse", "ops", "admin"},
    "support": {"support", "ops", "admin"},
    "catalog": {"catalog", "admin"},
    "ops": {"ops", "admin"},
    "admin": {"admin"},
}

CONSOLE_ROUTES = (
    "GET /console/login", "POST /console/login", "POST /console/logout", "GET /console", "GET /console/search",
    "GET /console/orders/{order_id}", "POST /console/orders/{order_id}/cancel", "POST /console/orders/{order_id}/refund",
    "POST /console/orders/{order_id}/returns", "POST /console/orders/{order_id}/alerts/resolve",
    "POST /console/returns/{rma_id}/approve", "POST /console/returns/{rma_id}/reject",
    "POST /console/returns/{rma_id}/receive", "POST /console/returns/{rma_id}/inspect",
    "POST /console/checkouts/{checkout_id}/review", "POST /console/shipments/{shipment_id}/packed",
    "POST /console/shipments/{shipment_id}/retry-carrier", "GET /console/shipments/{shipment_id}/packing-slip.pdf",
    "GET /console/pick-list.pdf", "GET /console/queues/{queue}", "GET /console/inventory",
    "POST /console/inventory/{sku}/reorder-point", "POST /console/inventory/{sku}/locations/{location_code}/safety-stock",
    "GET /console/audit", "GET /console/reports",
)

# The spec, kept apart from api/access.py on purpose: the level of each route (ALLOWED says who that is).
MIN_ROLE = {
    "GET /healthz": "public",
    "GET /readyz": "public",
    "POST /webhooks/stripe": "public",
    "POST /webhooks/easypost": "public",
    "GET /unsubscribe": "public",  # signed links in marketing email (tests/integration/test_unsubscribe.py)
    "POST /unsubscribe": "public",
    # the console: no API key header; its session cookie and each page's own permission are checked by
    # api/console_web.py (tests/integration/test_console_roles.py walks them per role)
    **{route: "public" for route in CONSOLE_ROUTES},
    "GET /products": "read",
    "GET /products/{product_id}": "read",
    "GET /inventory/{sku}": "read",
    "POST /carts": "storefront",
    "GET /carts/{cart_id}": "storefront",
    "POST /carts/{cart_id}/lines": "storefront",
    "PATCH /carts/{cart_id}/lines/{line_id}": "storefront",
    "DELETE /carts/{cart_id}/lines/{line_id}": "storefront",
    "POST /carts/{cart_id}/discount-codes": "storefront",
    "DELETE /carts/{cart_id}/discount-codes/{code}": "storefront",
    "PUT /carts/{cart_id}/email": "storefront",
    "POST /carts/{cart_id}/quote": "storefront",
    "GET /checkouts/options": "storefront",
    "POST /checkouts": "storefront",
    "GET /checkouts/{checkout_id}": "storefront",
    "POST /draft-orders/{draft_id}/checkout": "storefront",
    "GET /orders": "support",
    "GET /orders/{order_id}": "read",
    "GET /orders/{order_id}/invoice.pdf": "read",
    "GET /orders/{order_id}/refunds": "read",
    "POST /orders/{order_id}/returns": "storefront",
    "GET /orders/{order_id}/returns": "read",
    "GET /returns/{rma_id}": "read",
    "GET /subscription-plans": "read",
    "GET /subscriptions": "support",
    "POST /subscriptions": "storefront",
    "GET /subscriptions/{subscription_id}": "read",
    "PATCH /subscriptions/{subscription_id}": "storefront",
    "POST /subscriptions/{subscription_id}/pause": "storefront",
    "POST /subscriptions/{subscription_id}/resume": "storefront",
    "POST /subscriptions/{subscription_id}/skip": "storefront",
    "POST /subscriptions/{subscription_id}/cancel": "storefront",
    "POST /subscriptions/{subscription_id}/payment-method": "storefront",
    "POST /customers": "storefront",
    "POST /customers/sessions": "storefront",
    "POST /customers/sign-in-links": "storefront",
    "POST /customers/sign-in-links/redeem": "storefront",
    "GET /me": "read",
    "GET /me/orders": "read",
    "GET /me/subscriptions": "read",
    "GET /me/addresses": "read",
    "POST /me/addresses": "storefront",
    "DELETE /me/addresses/{address_id}": "storefront",
    "GET /customers": "support",
    "GET /customers/{customer_id}/export": "support",
    "POST /customers/{customer_id}/erase": "support",
    "POST /orders/{order_id}/cancel": "support",
    "POST /orders/{order_id}/refunds": "support",
    "POST /orders/{order_id}/edits": "support",
    "POST /returns/{rma_id}/approve": "support",
    "POST /returns/{rma_id}/reject": "support",
    "GET /orders/{order_id}/audit": "support",
    "POST /checkouts/{checkout_id}/review": "support",
    "POST /draft-orders": "support",
    "GET /draft-orders/{draft_id}": "support",
    "PATCH /draft-orders/{draft_id}": "support",
    "DELETE /draft-orders/{draft_id}": "support",
    "POST /draft-orders/{draft_id}/quote": "support",
    "POST /draft-orders/{draft_id}/complete": "support",
    "POST /draft-orders/{draft_id}/send-invoice": "support",
    "GET /admin/kill-switches": "ops",
    "PUT /admin/kill-switches/{kind}/{name}": "ops",
    "POST /shipments/{shipment_id}/packed": "warehouse",
    "POST /shipments/{shipment_id}/retry-carrier": "warehouse",
    "POST /returns/{rma_id}/receive": "warehouse",
    "POST /returns/{rma_id}/inspect": "warehouse",
    "GET /inventory/alerts": "ops",
    "POST /admin/inventory/locations": "ops",
    "GET /admin/inventory/locations": "ops",
    "PUT /admin/inventory/{sku}/locations/{location_code}": "ops",
    "GET /admin/inventory/{sku}/ledger": "ops",
    "POST /admin/inventory/transfers": "ops",
    "GET /admin/inventory/transfers": "ops",
    "GET /admin/inventory/transfers/{transfer_id}": "ops",
    "POST /admin/inventory/transfers/{transfer_id}/ship": "ops",
    "POST /admin/inventory/transfers/{transfer_id}/receive": "ops",
    "POST /admin/inventory/transfers/{transfer_id}/cancel": "ops",
    "GET /reports/sales": "ops",
    "GET /reports/payments": "ops",
    "GET /reports/fulfilment": "ops",
    "GET /reports/returns": "ops",
    "GET /reports/inventory": "ops",
    "GET /audit": "ops",
    "GET /inventory": "ops",
    "POST /admin/inventory/counts": "ops",
    "PATCH /admin/inventory/{sku}": "ops",
    "PATCH /admin/inventory/{sku}/locations/{location_code}": "ops",
    "GET /work-queues": "queues",
    "GET /work-queues/{queue}": "queues",
    "POST /orders/{order_id}/alerts/resolve": "support",
    "GET /reports/fraud": "ops",
    "GET /reports/reconciliation": "ops",
    "GET /metrics": "ops",
    "POST /admin/catalog/products": "catalog",
    "PATCH /admin/catalog/products/{product_id}": "catalog",
    "POST /admin/catalog/products/{product_id}/variants": "catalog",
    "PATCH /admin/catalog/variants/{sku}": "catalog",
    "PUT /admin/catalog/variants/{sku}/prices": "catalog",
    "POST /admin/catalog/import": "catalog",
    "GET /admin/catalog/subscription-plans": "catalog",
    "POST /admin/catalog/subscription-plans": "catalog",
    "PATCH /admin/catalog/subscription-plans/{plan_id}": "catalog",
    "GET /admin/promotions": "catalog",
    "POST /admin/promotions": "catalog",
    "GET /admin/promotions/{promotion_id}": "catalog",
    "PUT /admin/promotions/{promotion_id}": "catalog",
    "POST /admin/promotions/{promotion_id}/activate": "catalog",
    "POST /admin/promotions/{promotion_id}/deactivate": "catalog",
    "GET /admin/promotions/{promotion_id}/codes": "catalog",
    "POST /admin/promotions/{promotion_id}/codes": "catalog",
    "GET /admin/promotions/price-lists": "catalog",
    "POST /admin/promotions/price-lists": "catalog",
    "GET /admin/promotions/price-lists/{list_id}": "catalog",
    "PUT /admin/promotions/price-lists/{list_id}": "catalog",
    "DELETE /admin/promotions/price-lists/{list_id}": "catalog",
    "PUT /admin/promotions/price-lists/{list_id}/prices": "catalog",
    "PUT /admin/promotions/customer-groups/{group}/members/{email}": "catalog",
    "DELETE /admin/promotions/customer-groups/{group}/members/{email}": "catalog",
    "GET /admin/promotions/price-preview": "catalog",
    "GET /admin/api-keys": "admin",
    "POST /admin/api-keys": "admin",
    "POST /admin/api-keys/{key_id}/revoke": "admin",
}


def app_routes(app) -> set[str]:
    """Every API route as "METHOD /path", including those of included routers."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        contexts = app.routes
    else:
        contexts = iter_route_contexts(app.routes)
    return {f"{method} {route.path}" for route in contexts
            if isinstance(getattr(route, "original_route", route), APIRoute) for method in route.methods}


def error_code(response) -> str:
    return response.json()["error"]["code"]


def test_every_route_is_classified(api_app):
    routes = app_routes(api_app)
    assert routes - set(MIN_ROLE) == set(), "new route: add it to MIN_ROLE here and to api/access.py"
    assert set(MIN_ROLE) - routes == set(), "MIN_ROLE lists a route the app no longer has"
    assert set(ROUTE_PERMISSIONS) == routes


@pytest.mark.parametrize("role", [None, *ROLES])
@pytest.mark.parametrize("route", sorted(MIN_ROLE))
async def test_role_matrix(api_as, route, role):
    """No body and made-up ids: an allowed caller gets past auth (to a 2xx/4xx), others get 401/403."""
    method, path = route.split(" ")
    response = await api_as(role).request(method, re.sub(r"\{[^}]+\}", "missing", path))
    needed = MIN_ROLE[route]
    if role in ALLOWED[needed]:
        if response.status_code == 401:  # past the role check; the customer's own token is another matter
            assert error_code(response) == "customer_token_required", response.text
            return
        assert response.status_code not in (401, 403, 500), response.text
    elif role is None:
        assert response.status_code == 401 and error_code(response) == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    else:
        assert response.status_code == 403, response.text
        assert error_code(response) == "forbidden"
        assert response.json()["error"]["details"]["role"] == role


async def test_storefront_shops_but_cannot_flip_switches(api_as):
    storefront = api_as("storefront")
    assert (await storefront.post("/carts", json={})).status_code == 201
    assert (await storefront.get("/products")).status_code == 200
    refused = await storefront.put("/admin/kill-switches/payment_method/paypal", json={"disabled": True})
    assert refused.status_code == 403
    assert refused.json()["error"]["details"] == {"permission": "kill_switches", "role": "storefront"}


@pytest.mark.parametrize("header", [
    None, "Bearer ", "Bearer not-a-key", "Basic dXNlcjpwYXNz", "Bearer ofk_" + "a" * 26 + "_nope",
    "Bearer ofk_" + "x" * 500,
])
async def test_missing_or_invalid_keys_are_401(api_app, header):
    async with api_client(api_app) as client:
        response = await client.get("/products", headers={"Authorization": header} if header else {})
    assert response.status_code == 401 and error_code(response) == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_tampered_secret_is_401_and_x_api_key_works(api_app, role_keys):
    secret = role_keys["storefront"]
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")  # right key id, wrong secret
    async with api_client(api_app, tampered) as client:
        assert (await client.get("/products")).status_code == 401
    async with api_client(api_app) as client:
        assert (await client.get("/products", headers={"X-API-Key": secret})).status_code == 200


async def test_kill_switch_change_is_audited_with_actor_and_reason(api_as, engine):
    switched = await api_as("ops").put("/admin/kill-switches/payment_method/paypal", headers={"X-Request-ID": "req-ks"},
                                       json={"disabled": True, "reason": "PSP outage, ticket OPS-12"})
    assert switched.status_code == 200, switched.text
    refused = await api_as("support").put("/admin/kill-switches/payment_method/card", json={"disabled": True})
    assert refused.status_code == 403

    async with engine.connect() as conn:
        rows = (await conn.execute(select(audit_log).where(audit_log.c.action == "kill_switch.set"))).all()
    assert len(rows) == 1  # the refused attempt wrote nothing
    entry = rows[0]
    assert entry.actor_key_id.startswith("key_") and (entry.actor_name, entry.actor_role) == ("test ops", "ops")
    assert entry.target == "payment_method/paypal" and entry.reason == "PSP outage, ticket OPS-12"
    assert entry.details == {"disabled": True} and entry.request_id == "req-ks"
    await api_as("ops").put("/admin/kill-switches/payment_method/paypal", json={"disabled": False})


async def test_order_audit_trail_is_for_support_and_names_the_actor(api_as, temporal_env, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    storefront = api_as("storefront")
    done = await checkout_to_end(storefront, temporal_env.client, await cart_with(storefront, {sku: 1}))
    order_id = done["order_id"]
    shipment_id = await _first_shipment(storefront, order_id, {"X-Order-Token": done["order_token"]})

    assert (await api_as("support").post(f"/shipments/{shipment_id}/packed")).status_code == 403
    assert (await api_as("ops").post(f"/shipments/{shipment_id}/packed")).status_code == 202

    assert (await storefront.get(f"/orders/{order_id}/audit")).status_code == 403
    trail = await api_as("support").get(f"/orders/{order_id}/audit")
    assert trail.status_code == 200, trail.text
    [entry] = trail.json()
    assert (entry["action"], entry["target"], entry["order_id"]) == ("shipment.packed", shipment_id, order_id)
    assert (entry["actor_name"], entry["actor_role"]) == ("test ops", "ops") and entry["request_id"]
    missing = await api_as("support").get("/orders/ord_missing/audit")
    assert missing.status_code == 404 and error_code(missing) == "order_not_found"


async def _first_shipment(api, order_id: str, headers: dict | None = None) -> str:
    async def shipments():  # the order workflow creates shipments a moment after checkout
        return (await api.get(f"/orders/{order_id}", headers=headers)).json()["shipments"]

    return (await eventually(shipments, what=f"a shipment of order {order_id}"))[0]["id"]


async def test_key_lifecycle_over_http_and_secret_never_stored(api_app, api_as, engine):
    admin = api_as("admin")
    created = await admin.post("/admin/api-keys", json={"name": "web storefront", "role": "storefront"})
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    key_id, secret = created.json()["id"], created.json()["secret"]
    assert secret.startswith(f"ofk_{key_id.removeprefix('key_')}_")

    async with api_client(api_app, secret) as client:
        assert (await client.get("/products")).status_code == 200
        assert (await client.get("/admin/api-keys")).status_code == 403
        listed = {k["id"]: k for k in (await admin.get("/admin/api-keys")).json()}
        assert listed[key_id]["last_used_at"] and "secret" not in listed[key_id]
        revoked = await admin.post(f"/admin/api-keys/{key_id}/revoke", json={"reason": "rotated"})
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        after = await client.get("/products")
        assert after.status_code == 401 and after.headers["www-authenticate"] == "Bearer"

    async with engine.connect() as conn:
        stored = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).one()
        audits = (await conn.execute(select(audit_log).where(audit_log.c.target == key_id)
                                     .order_by(audit_log.c.seq))).all()
    random_part = secret.split("_", 2)[2]
    assert all(random_part not in str(value) for value in (*stored, *(v for row in audits for v in row)))
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert [(a.action, a.actor_role, a.reason) for a in audits] == [
        ("api_key.created", "admin", ""), ("api_key.revoked", "admin", "rotated")]


async def _orderflow(database_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    proc = await asyncio.create_subprocess_exec(str(ORDERFLOW), *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_keys_command_creates_lists_and_revokes(api_app, database_url, engine):
    code, secret, _ = await _orderflow(database_url, "keys", "create", "--role", "support", "--name", "helpdesk")
    assert code == 0 and secret.startswith("ofk_")
    secret = secret.strip()
    key_id = "key_" + secret.split("_")[1]
    code, listing, _ = await _orderflow(database_url, "keys", "list")
    assert code == 0 and key_id in listing and secret not in listing

    async with api_client(api_app, secret) as client:
        assert (await client.get("/orders/ord_missing/audit")).status_code == 404  # support may read audits
        code, _, err = await _orderflow(database_url, "keys", "revoke", key_id, "--reason", "left the team")
        assert code == 0, err
        assert (await client.get("/products")).status_code == 401
    code, _, err = await _orderflow(database_url, "keys", "revoke", "key_unknown")
    assert code == 1 and "not found" in err

    async with engine.connect() as conn:
        audits = (await conn.execute(select(audit_log).where(audit_log.c.target == key_id))).all()
    assert {(a.action, a.actor_name, a.actor_key_id) for a in audits} == {
        ("api_key.created", "cli", None), ("api_key.revoked", "cli", None)}


async def test_access_log_carries_the_actor(api_as, caplog):
    caplog.set_level(logging.INFO, logger="orderflow.api.access")
    assert (await api_as("storefront").get("/products")).status_code == 200
    lines = [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("path") == "/products"]
    assert lines and lines[-1]["api_key_role"] == "storefront" and lines[-1]["api_key_id"].startswith("key_")
