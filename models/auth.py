"""Roles and what they may do. Pure: no I/O, so the map is unit-tested on its own.

Roles form a ladder: each role holds every permission of the roles below it.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Role = Literal["storefront", "support", "ops", "admin"]
ROLES: tuple[Role, ...] = ("storefront", "support", "ops", "admin")  # lowest first


class Permission(StrEnum):
    CATALOG_READ = "catalog:read"
    INVENTORY_READ = "inventory:read"
    CARTS = "carts"
    CHECKOUTS = "checkouts"
    ORDERS_READ = "orders:read"
    RETURNS_REQUEST = "returns:request"  # a customer asks, through the storefront
    ORDERS_SUPPORT = "orders:support"  # cancel, refund, approve or reject returns
    ORDERS_SEARCH = "orders:search"  # list any customer's orders and subscriptions: support, not a storefront
    AUDIT_READ = "audit:read"
    ANY_CUSTOMER = "customers:any"  # act for any customer without their token (api/ownership.py): support
    CUSTOMER_PRIVACY = "customers:privacy"  # export or erase everything held about a customer
    CONSOLE = "console"
    KILL_SWITCHES = "kill_switches"
    WAREHOUSE = "warehouse"  # shipments packed or carrier retried, returns received and inspected
    INVENTORY_ADMIN = "inventory:admin"  # locations, stock counts, ledger, low-stock alerts
    METRICS = "metrics"  # GET /metrics: what a Prometheus scraper reads, with an ops key
    REPORTS = "reports"  # sales, abandoned-cart and fraud (chargeback) reports
    CATALOG_ADMIN = "catalog:admin"
    API_KEYS = "api_keys"
    # A route nobody has classified yet: admin only, so forgetting fails closed.
    UNCLASSIFIED = "unclassified"


# What each role adds to the one below it.
GRANTS: dict[Role, frozenset[Permission]] = {
    "storefront": frozenset({Permission.CATALOG_READ, Permission.INVENTORY_READ, Permission.CARTS,
                             Permission.CHECKOUTS, Permission.ORDERS_READ, Permission.RETURNS_REQUEST}),
    "support": frozenset({Permission.ORDERS_SUPPORT, Permission.ORDERS_SEARCH, Permission.AUDIT_READ,
                          Permission.CONSOLE, Permission.ANY_CUSTOMER, Permission.CUSTOMER_PRIVACY}),
    "ops": frozenset({Permission.KILL_SWITCHES, Permission.WAREHOUSE, Permission.INVENTORY_ADMIN,
                      Permission.METRICS, Permission.REPORTS}),
    "admin": frozenset({Permission.CATALOG_ADMIN, Permission.API_KEYS, Permission.UNCLASSIFIED}),
}


def permissions(role: str) -> frozenset[Permission]:
    """Everything ``role`` may do; an unknown role may do nothing."""
    if role not in ROLES:
        return frozenset()
    granted: set[Permission] = set()
    for step in ROLES[: ROLES.index(role) + 1]:
        granted |= GRANTS[step]
    return frozenset(granted)


def allows(role: str, permission: Permission) -> bool:
    return permission in permissions(role)


def lowest_role_with(permission: Permission) -> Role:
    """The least privileged role holding ``permission`` (for error messages and docs)."""
    return next(role for role in ROLES if permission in GRANTS[role])


@dataclass(frozen=True)
class Caller:
    """Who is acting: an API key, or an operator at the command line (``key_id`` None)."""

    key_id: str | None
    name: str
    role: Role

    def may(self, permission: Permission) -> bool:
        return allows(self.role, permission)

    @property
    def label(self) -> str:
        """How workflows and events name who acted: the key's name and id."""
        return f"{self.name} ({self.key_id})"


# The ``orderflow`` command runs with the database's credentials, so it is all-powerful.
CLI_CALLER = Caller(key_id=None, name="cli", role="admin")
