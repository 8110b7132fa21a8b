"""The console is open to every member of staff, and each page and action lets in only the roles its JSON route
lets in, before doing anything (api/access.py CONSOLE_PERMISSIONS, checked by api/console_web.py).

The spec below is written out by hand, apart from api/access.py on purpose (as tests/integration/test_auth.py
does for the API)."""

import re

import pytest
from api.access import CONSOLE_PERMISSIONS
from tests.integration.checkout_helpers import placed_order
from tests.integration.test_auth import app_routes
from tests.integration.console_helpers import audit_actions, csrf_in, signed_in

STAFF = ("warehouse", "catalog", "support", "ops", "admin")
EVERYONE, SUPPORT, WAREHOUSE, QUEUES, OPS = (
    set(STAFF), {"support", "ops", "admin"}, {"warehouse", "ops", "admin"}, {"warehouse", "support", "ops", "admin"},
    {"ops", "admin"})
WHO_MAY = {
    "GET /console": EVERYONE,
    "POST /console/logout": EVERYONE,
    "GET /console/orders/{order_id}": EVERYONE,  # every member of staff reads orders
    "GET /console/search": SUPPORT,
    "POST /console/orders/{order_id}/cancel": SUPPORT,
    "POST /console/orders/{order_id}/refund": SUPPORT,
    "POST /console/orders/{order_id}/returns": SUPPORT,
    "POST /console/orders/{order_id}/alerts/resolve": SUPPORT,
    "POST /console/returns/{rma_id}/approve": SUPPORT,
    "POST /console/returns/{rma_id}/reject": SUPPORT,
    "POST /console/checkouts/{checkout_id}/review": SUPPORT,
    "POST /console/returns/{rma_id}/receive": WAREHOUSE,
    "POST /console/returns/{rma_id}/inspect": WAREHOUSE,
    "POST /console/shipments/{shipment_id}/packed": WAREHOUSE,
    "POST /console/shipments/{shipment_id}/retry-carrier": WAREHOUSE,
    "GET /console/shipments/{shipment_id}/packing-slip.pdf": WAREHOUSE,
    "GET /console/pick-list.pdf": WAREHOUSE,
    "GET /console/queues/{queue}": QUEUES,
    "GET /console/inventory": OPS,
    "POST /console/inventory/{sku}/reorder-point": OPS,
    "POST /console/inventory/{sku}/locations/{location_code}/safety-stock": OPS,
    "GET /console/audit": OPS,
    "GET /console/reports": OPS,
}
# Enough for every form to reach its handler; the ids name nothing, so an allowed action is refused by the rules
# (a flash or a 404 page), never by the role check.
FIELDS = {"reason": "r", "note": "n", "decision": "approve", "mode": "full", "reorder_point": "1",
          "safety_stock": "1"}


def test_every_console_route_has_a_permission_and_a_spec(api_app):
    console = {route for route in app_routes(api_app) if route.split(" ")[1].startswith("/console")}
    assert console - {"GET /console/login", "POST /console/login"} == set(CONSOLE_PERMISSIONS) == set(WHO_MAY)


@pytest.fixture(scope="module")
async def sessions(api_app, role_keys) -> dict:
    """role -> (signed-in client, its CSRF token)."""
    signed = {}
    for role in STAFF:
        client = await signed_in(api_app, role_keys[role])
        signed[role] = (client, csrf_in((await client.get("/console")).text))
    return signed


@pytest.mark.parametrize("role", STAFF)
@pytest.mark.parametrize("route", sorted(set(WHO_MAY) - {"POST /console/logout"}))
async def test_each_page_and_action_per_role(sessions, route, role):
    method, path = route.split(" ")
    client, token = sessions[role]
    url = re.sub(r"\{queue\}", "fraud_review", re.sub(r"\{(?!queue)[^}]+\}", "missing", path))
    if method == "POST":
        response = await client.post(url, data={"csrf": token, **FIELDS})
    else:
        response = await client.get(url, params={"location": "missing"} if "pick-list" in url else None)
    if role in WHO_MAY[route]:
        assert response.status_code in (200, 303, 404), (response.status_code, response.text[:500])
        assert "Not for your role" not in response.text
    else:
        assert response.status_code == 403, (response.status_code, response.text[:500])
        assert f"The {role} role may not do this" in response.text


async def test_a_refused_role_changes_nothing_even_with_a_valid_form(api_app, api, role_keys, temporal_env, engine):
    done, _ = await placed_order(api, temporal_env, engine)
    order_id = done["order_id"]
    packer = await signed_in(api_app, role_keys["warehouse"])
    order_page = await packer.get(f"/console/orders/{order_id}")
    assert order_page.status_code == 200
    assert f"/console/orders/{order_id}/cancel" not in order_page.text  # hidden
    assert "Audit trail" not in order_page.text  # one order's trail is support's
    refused = await packer.post(f"/console/orders/{order_id}/cancel",
                                data={"csrf": csrf_in(order_page.text), "reason": "packer"})
    assert refused.status_code == 403
    assert (await api.get(f"/orders/{order_id}")).json()["status"] != "cancelled"
    assert await audit_actions(engine, order_id) == []


@pytest.mark.parametrize(("role", "shown", "hidden"), [
    ("warehouse", ["/console/queues/parcels_to_pack"], ["/console/inventory", "/console/audit", "/console/search",
                                                         "/console/queues/fraud_review"]),
    ("catalog", [], ["/console/queues/", "/console/inventory", "/console/search"]),
    ("support", ["/console/queues/fraud_review", "/console/search"], ["/console/inventory", "/console/reports",
                                                                      "/console/queues/parcels_to_pack"]),
    ("ops", ["/console/inventory", "/console/audit", "/console/reports", "/console/queues/low_stock"], []),
])
async def test_the_home_page_shows_only_what_the_role_may_do(sessions, role, shown, hidden):
    client, _ = sessions[role]
    home = await client.get("/console")
    assert home.status_code == 200
    assert all(f'="{link}' in home.text for link in shown), role  # a link or a form's action
    assert not any(f'="{link}' in home.text for link in hidden), role
