"""The roles and the route table, without a database."""

import pytest

from api.access import PUBLIC, ROUTE_PERMISSIONS, permission_for
from models.auth import ROLE_PERMISSIONS, Caller, Permission, allows, lowest_role_with, permissions, roles_with

P = Permission


def test_ops_keeps_what_support_and_the_warehouse_do_and_admin_everything():
    # Ops keys made before the job roles existed packed parcels and refunded: they still do.
    assert permissions("support") | permissions("warehouse") < permissions("ops")
    assert permissions("admin") == frozenset(Permission)
    assert permissions("storefront") < permissions("support")


def test_every_permission_is_granted_and_keys_and_unclassified_routes_are_admin_only():
    assert set().union(*ROLE_PERMISSIONS.values()) == set(Permission)
    assert roles_with(P.API_KEYS) == roles_with(P.UNCLASSIFIED) == ("admin",)


@pytest.mark.parametrize(("role", "allowed", "denied"), [
    ("storefront", {P.CATALOG_READ, P.INVENTORY_READ, P.CARTS, P.CHECKOUTS, P.ORDERS_READ, P.RETURNS_REQUEST},
     {P.ORDERS_SUPPORT, P.AUDIT_READ, P.KILL_SWITCHES, P.WAREHOUSE, P.INVENTORY_ADMIN, P.CATALOG_ADMIN, P.API_KEYS,
      P.ANY_CUSTOMER, P.CONSOLE, P.WORK_QUEUES}),
    ("warehouse", {P.WAREHOUSE, P.WORK_QUEUES, P.ORDERS_READ, P.ANY_CUSTOMER, P.CONSOLE},
     {P.ORDERS_SUPPORT, P.CARTS, P.CHECKOUTS, P.KILL_SWITCHES, P.REPORTS, P.INVENTORY_ADMIN, P.CATALOG_ADMIN,
      P.API_KEYS}),
    ("support", {P.ORDERS_READ, P.ORDERS_SUPPORT, P.AUDIT_READ, P.CONSOLE, P.WORK_QUEUES, P.CUSTOMER_PRIVACY},
     {P.KILL_SWITCHES, P.WAREHOUSE, P.INVENTORY_ADMIN, P.REPORTS, P.CATALOG_ADMIN, P.API_KEYS, P.AUDIT_BROWSE}),
    ("catalog", {P.CATALOG_ADMIN, P.CATALOG_READ, P.CONSOLE},
     {P.ORDERS_SUPPORT, P.WAREHOUSE, P.KILL_SWITCHES, P.REPORTS, P.API_KEYS, P.CARTS, P.WORK_QUEUES}),
    ("ops", {P.ORDERS_SUPPORT, P.KILL_SWITCHES, P.WAREHOUSE, P.INVENTORY_ADMIN, P.REPORTS, P.AUDIT_BROWSE},
     {P.CATALOG_ADMIN, P.API_KEYS, P.UNCLASSIFIED}),
    ("admin", set(Permission), set()),
])
def test_role_permissions(role, allowed, denied):
    assert all(allows(role, p) for p in allowed)
    assert not any(allows(role, p) for p in denied)
    assert Caller(key_id="key_x", name="n", role=role).may(next(iter(allowed)))


def test_unknown_role_may_do_nothing():
    assert permissions("superuser") == frozenset()
    assert not allows("", P.CATALOG_READ)


def test_lowest_role_with():
    assert lowest_role_with(P.CARTS) == "storefront"
    assert lowest_role_with(P.AUDIT_READ) == "support"
    assert lowest_role_with(P.KILL_SWITCHES) == "ops"
    assert lowest_role_with(P.WAREHOUSE) == "warehouse"
    assert lowest_role_with(P.CATALOG_ADMIN) == "catalog"
    # Every member of staff signs in to the console; each page and action checks its own permission there.
    assert roles_with(P.CONSOLE) == ("warehouse", "catalog", "support", "ops", "admin")
    assert lowest_role_with(P.API_KEYS) == "admin"


def test_unlisted_routes_fail_closed():
    assert permission_for("DELETE", "/orders/{order_id}") is P.UNCLASSIFIED
    assert lowest_role_with(P.UNCLASSIFIED) == "admin"


def test_route_table_uses_known_permissions_and_methods():
    for route, permission in ROUTE_PERMISSIONS.items():
        method, path = route.split(" ")
        assert method in {"GET", "POST", "PUT", "PATCH", "DELETE"} and path.startswith("/"), route
        assert permission is PUBLIC or permission in Permission, route
        assert permission is not P.UNCLASSIFIED, route


def test_only_probes_webhooks_unsubscribe_links_and_the_console_skip_api_keys():
    public = {route for route, permission in ROUTE_PERMISSIONS.items() if permission is PUBLIC}
    # The console's pages check their own session cookie (api/console_web.py) instead; unsubscribe
    # links their HMAC token (api/routes/unsubscribe.py).
    outside_console = {route for route in public if not route.split(" ")[1].startswith("/console")}
    assert outside_console == {"GET /healthz", "GET /readyz", "POST /webhooks/stripe", "POST /webhooks/easypost",
                               "GET /unsubscribe", "POST /unsubscribe"}
