"""Roles and what they may do. Pure: no I/O, so the map is unit-tested on its own.

Each role is a job: a warehouse packer, a support clerk, a catalog editor, ops and admin. The jobs
are not a ladder (a packer may not refund, a clerk may not pack), except that ops keeps everything
support and the warehouse may do (ops keys made before the job roles existed still work) and admin
may do everything.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Role = Literal["storefront", "warehouse", "catalog", "support", "ops", "admin"]
ROLES: tuple[Role, ...] = ("storefront", "warehouse", "catalog", "support", "ops", "admin")  # narrowest first


class Permission(StrEnum):
    CATALOG_READ = "catalog:read"
    INVENTORY_READ = "inventory:read"
    CARTS = "carts"
    CHECKOUTS = "checkouts"
    ORDERS_READ = "orders:read"
    RETURNS_REQUEST = "returns:request"  # a customer asks, through the storefront
    ORDERS_SUPPORT = "orders:support"  # cancel, refund, approve or reject returns, decide fraud reviews
    ORDERS_SEARCH = "orders:search"  # list any customer's orders and subscriptions: support, not a storefront
    AUDIT_READ = "audit:read"
    ANY_CUSTOMER = "customers:any"  # act for any customer without their token (api/ownership.py): staff
    CUSTOMER_PRIVACY = "customers:privacy"  # export or erase everything held about a customer
    CONSOLE = "console"
    WORK_QUEUES = "work_queues"  # GET /work-queues: each queue shows only to roles that may act on it
    KILL_SWITCHES = "kill_switches"
    WAREHOUSE = "warehouse"  # shipments packed or carrier retried, returns received and inspected
    INVENTORY_ADMIN = "inventory:admin"  # locations, stock counts, reorder points, ledger, low-stock alerts
    METRICS = "metrics"  # GET /metrics: what a Prometheus scraper reads, with an ops key
    REPORTS = "reports"  # sales, payments, fulfilment, returns, inventory and fraud reports
    AUDIT_BROWSE = "audit:browse"  # every action by anyone (GET /audit), not just one order's trail
    CATALOG_ADMIN = "catalog:admin"  # products, variants, prices, promotions, subscription plans
    API_KEYS = "api_keys"
    # A route nobody has classified yet: admin only, so forgetting fails closed.
    UNCLASSIFIED = "unclassified"


P = Permission
_STOREFRONT = frozenset({P.CATALOG_READ, P.INVENTORY_READ, P.CARTS, P.CHECKOUTS, P.ORDERS_READ, P.RETURNS_REQUEST})
# Every member of staff reads the catalog, stock and any customer's order, and may use the console, where
# each page and action checks its own permission (api/access.py CONSOLE_PERMISSIONS).
_STAFF = frozenset({P.CATALOG_READ, P.INVENTORY_READ, P.ORDERS_READ, P.ANY_CUSTOMER, P.CONSOLE})
_WAREHOUSE = _STAFF | {P.WAREHOUSE, P.WORK_QUEUES}
# Support keeps the storefront's permissions it always had (placing an order for a customer on the phone).
_SUPPORT = _STOREFRONT | _STAFF | {P.ORDERS_SUPPORT, P.ORDERS_SEARCH, P.AUDIT_READ, P.CUSTOMER_PRIVACY,
                                   P.WORK_QUEUES}
_CATALOG = _STAFF | {P.CATALOG_ADMIN}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    "storefront": _STOREFRONT,
    "warehouse": _WAREHOUSE,
    "catalog": _CATALOG,
    "support": _SUPPORT,
    "ops": _SUPPORT | _WAREHOUSE | {P.KILL_SWITCHES, P.INVENTORY_ADMIN, P.METRICS, P.REPORTS, P.AUDIT_BROWSE},
    "admin": frozenset(Permission),
}


def permissions(role: str) -> frozenset[Permission]:
    """Everything ``role`` may do; an unknown role may do nothing."""
    return ROLE_PERMISSIONS.get(role, frozenset())  # type: ignore[call-overload]


def allows(role: str, permission: Permission) -> bool:
    return permission in permissions(role)


def lowest_role_with(permission: Permission) -> Role:
    """The narrowest role holding ``permission`` (for error messages and docs)."""
    return next(role for role in ROLES if permission in ROLE_PERMISSIONS[role])


def roles_with(permission: Permission) -> tuple[Role, ...]:
    """Every role holding ``permission``, narrowest first."""
    return tuple(role for role in ROLES if permission in ROLE_PERMISSIONS[role])


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
