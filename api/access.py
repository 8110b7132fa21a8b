"""Who may call what: the permission of every route, in one table.

A route missing here is admin-only (fails closed) and fails ``tests/integration/test_auth.py``,
so adding a route means deciding who may call it. ``PUBLIC`` routes take no API key: health
probes for load balancers, webhooks, which prove themselves with the provider's signature, and
unsubscribe links, which prove themselves with their signed token.
The OpenAPI docs are not API routes and need no entry.
"""

from models.auth import Permission as P

PUBLIC = None

ROUTE_PERMISSIONS: dict[str, P | None] = {
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "POST /webhooks/stripe": PUBLIC,
    "POST /webhooks/easypost": PUBLIC,
    # Unsubscribe from marketing email: recipients have no key; the link's HMAC token proves the address.
    "GET /unsubscribe": PUBLIC,
    "POST /unsubscribe": PUBLIC,
    # The support console's HTML pages take no API key header: a browser signs in with a key once and
    # then holds a session cookie, which api/console_web.py checks for Permission.CONSOLE (support+).
    "GET /console/login": PUBLIC,
    "POST /console/login": PUBLIC,
    "POST /console/logout": PUBLIC,
    "GET /console": PUBLIC,
    "GET /console/orders/{order_id}": PUBLIC,
    "POST /console/orders/{order_id}/cancel": PUBLIC,
    "POST /console/orders/{order_id}/refund": PUBLIC,
    "POST /console/returns/{rma_id}/approve": PUBLIC,
    "POST /console/returns/{rma_id}/reject": PUBLIC,
    # storefront
    "GET /products": P.CATALOG_READ,
    "GET /products/{product_id}": P.CATALOG_READ,
    "GET /inventory/{sku}": P.INVENTORY_READ,
    "POST /carts": P.CARTS,
    "GET /carts/{cart_id}": P.CARTS,
    "POST /carts/{cart_id}/lines": P.CARTS,
    "PATCH /carts/{cart_id}/lines/{line_id}": P.CARTS,
    "DELETE /carts/{cart_id}/lines/{line_id}": P.CARTS,
    "POST /carts/{cart_id}/discount-codes": P.CARTS,
    "DELETE /carts/{cart_id}/discount-codes/{code}": P.CARTS,
    "PUT /carts/{cart_id}/email": P.CARTS,
    "GET /checkouts/options": P.CHECKOUTS,
    "POST /checkouts": P.CHECKOUTS,
    "GET /checkouts/{checkout_id}": P.CHECKOUTS,
    "GET /orders": P.ORDERS_SEARCH,
    "GET /orders/{order_id}": P.ORDERS_READ,
    "GET /orders/{order_id}/invoice.pdf": P.ORDERS_READ,
    "GET /orders/{order_id}/refunds": P.ORDERS_READ,
    "POST /orders/{order_id}/returns": P.RETURNS_REQUEST,
    "GET /orders/{order_id}/returns": P.ORDERS_READ,
    "GET /returns/{rma_id}": P.ORDERS_READ,
    # storefront: subscriptions, managed on the customer's behalf like checkouts
    "GET /subscriptions": P.ORDERS_SEARCH,
    "POST /subscriptions": P.CHECKOUTS,
    "GET /subscriptions/{subscription_id}": P.ORDERS_READ,
    "PATCH /subscriptions/{subscription_id}": P.CHECKOUTS,
    "POST /subscriptions/{subscription_id}/pause": P.CHECKOUTS,
    "POST /subscriptions/{subscription_id}/resume": P.CHECKOUTS,
    "POST /subscriptions/{subscription_id}/skip": P.CHECKOUTS,
    "POST /subscriptions/{subscription_id}/cancel": P.CHECKOUTS,
    "POST /subscriptions/{subscription_id}/payment-method": P.CHECKOUTS,
    # support
    "POST /orders/{order_id}/cancel": P.ORDERS_SUPPORT,
    "POST /orders/{order_id}/refunds": P.ORDERS_SUPPORT,
    "POST /returns/{rma_id}/approve": P.ORDERS_SUPPORT,
    "POST /returns/{rma_id}/reject": P.ORDERS_SUPPORT,
    "GET /orders/{order_id}/audit": P.AUDIT_READ,
    "POST /checkouts/{checkout_id}/review": P.ORDERS_SUPPORT,  # fraud review decision
    # ops
    "GET /admin/kill-switches": P.KILL_SWITCHES,
    "PUT /admin/kill-switches/{kind}/{name}": P.KILL_SWITCHES,
    "POST /shipments/{shipment_id}/packed": P.WAREHOUSE,
    "POST /shipments/{shipment_id}/retry-carrier": P.WAREHOUSE,
    "POST /returns/{rma_id}/receive": P.WAREHOUSE,
    "POST /returns/{rma_id}/inspect": P.WAREHOUSE,
    "GET /inventory/alerts": P.INVENTORY_ADMIN,
    "POST /admin/inventory/locations": P.INVENTORY_ADMIN,
    "GET /admin/inventory/locations": P.INVENTORY_ADMIN,
    "PUT /admin/inventory/{sku}/locations/{location_code}": P.INVENTORY_ADMIN,
    "GET /admin/inventory/{sku}/ledger": P.INVENTORY_ADMIN,
    "POST /admin/inventory/transfers": P.INVENTORY_ADMIN,
    "GET /admin/inventory/transfers": P.INVENTORY_ADMIN,
    "GET /admin/inventory/transfers/{transfer_id}": P.INVENTORY_ADMIN,
    "POST /admin/inventory/transfers/{transfer_id}/ship": P.INVENTORY_ADMIN,
    "POST /admin/inventory/transfers/{transfer_id}/receive": P.INVENTORY_ADMIN,
    "POST /admin/inventory/transfers/{transfer_id}/cancel": P.INVENTORY_ADMIN,
    "GET /reports/sales": P.REPORTS,
    "GET /reports/fraud": P.REPORTS,
    "GET /reports/reconciliation": P.REPORTS,
    # Business figures (checkout volumes, latencies): ops, not public. Scrapers send an ops key
    # (Prometheus `authorization: {credentials_file: …}`).
    "GET /metrics": P.METRICS,
    # admin
    "POST /admin/catalog/products": P.CATALOG_ADMIN,
    "PATCH /admin/catalog/products/{product_id}": P.CATALOG_ADMIN,
    "POST /admin/catalog/products/{product_id}/variants": P.CATALOG_ADMIN,
    "PATCH /admin/catalog/variants/{sku}": P.CATALOG_ADMIN,
    "PUT /admin/catalog/variants/{sku}/prices": P.CATALOG_ADMIN,
    "POST /admin/catalog/import": P.CATALOG_ADMIN,
    # promotions and pricing: catalog admins (prices are part of the catalog)
    "GET /admin/promotions": P.CATALOG_ADMIN,
    "POST /admin/promotions": P.CATALOG_ADMIN,
    "GET /admin/promotions/{promotion_id}": P.CATALOG_ADMIN,
    "PUT /admin/promotions/{promotion_id}": P.CATALOG_ADMIN,
    "POST /admin/promotions/{promotion_id}/activate": P.CATALOG_ADMIN,
    "POST /admin/promotions/{promotion_id}/deactivate": P.CATALOG_ADMIN,
    "GET /admin/promotions/{promotion_id}/codes": P.CATALOG_ADMIN,
    "POST /admin/promotions/{promotion_id}/codes": P.CATALOG_ADMIN,
    "GET /admin/promotions/price-lists": P.CATALOG_ADMIN,
    "POST /admin/promotions/price-lists": P.CATALOG_ADMIN,
    "GET /admin/promotions/price-lists/{list_id}": P.CATALOG_ADMIN,
    "PUT /admin/promotions/price-lists/{list_id}": P.CATALOG_ADMIN,
    "DELETE /admin/promotions/price-lists/{list_id}": P.CATALOG_ADMIN,
    "PUT /admin/promotions/price-lists/{list_id}/prices": P.CATALOG_ADMIN,
    "PUT /admin/promotions/customer-groups/{group}/members/{email}": P.CATALOG_ADMIN,
    "DELETE /admin/promotions/customer-groups/{group}/members/{email}": P.CATALOG_ADMIN,
    "GET /admin/promotions/price-preview": P.CATALOG_ADMIN,
    "GET /admin/api-keys": P.API_KEYS,
    "POST /admin/api-keys": P.API_KEYS,
    "POST /admin/api-keys/{key_id}/revoke": P.API_KEYS,
}


def permission_for(method: str, path: str) -> P | None:
    """The permission a route needs (``PUBLIC`` for none); unlisted routes are admin-only."""
    return ROUTE_PERMISSIONS.get(f"{method} {path}", P.UNCLASSIFIED)
