"""Who may call what: the permission of every route, in one table.

A route missing here is admin-only (fails closed) and fails ``tests/integration/test_auth.py``,
so adding a route means deciding who may call it. ``PUBLIC`` routes take no API key: health
probes for load balancers, webhooks, which prove themselves with the provider's signature, and
unsubscribe links, which prove themselves with their signed token.
The OpenAPI docs are not API routes and need no entry.

``ROUTE_OWNERSHIP`` is the second half of the rule: whose resource a storefront key may touch on
each route it is allowed. A storefront acts FOR a shopper, so it must present the owner's proof
(``api/ownership.py`` checks it): the customer token of the owner (``X-Customer-Token``), the guest
order token (``X-Order-Token``) or the guest cart token (``X-Cart-Token``). A resource that is not
the caller's answers the same 404 as a missing one. Roles holding ``Permission.ANY_CUSTOMER``
(support and above) act for anyone and skip the check.
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
    # The console's HTML pages take no API key header: a browser signs in with a key once and then holds a
    # session cookie, which api/console_web.py checks: CONSOLE (every staff role), then the page's or
    # action's own permission in CONSOLE_PERMISSIONS below, before the handler runs.
    **{route: PUBLIC for route in (
        "GET /console/login", "POST /console/login", "POST /console/logout", "GET /console", "GET /console/search",
        "GET /console/orders/{order_id}", "POST /console/orders/{order_id}/cancel",
        "POST /console/orders/{order_id}/refund", "POST /console/orders/{order_id}/returns",
        "POST /console/orders/{order_id}/alerts/resolve", "POST /console/returns/{rma_id}/approve",
        "POST /console/returns/{rma_id}/reject", "POST /console/returns/{rma_id}/receive",
        "POST /console/returns/{rma_id}/inspect", "POST /console/checkouts/{checkout_id}/review",
        "POST /console/shipments/{shipment_id}/packed", "POST /console/shipments/{shipment_id}/retry-carrier",
        "GET /console/shipments/{shipment_id}/packing-slip.pdf", "GET /console/pick-list.pdf",
        "GET /console/queues/{queue}", "GET /console/inventory", "POST /console/inventory/{sku}/reorder-point",
        "POST /console/inventory/{sku}/locations/{location_code}/safety-stock", "GET /console/audit",
        "GET /console/reports",
    )},
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
    "POST /carts/{cart_id}/quote": P.CARTS,
    "GET /checkouts/options": P.CHECKOUTS,
    "POST /checkouts": P.CHECKOUTS,
    "GET /checkouts/{checkout_id}": P.CHECKOUTS,
    "POST /draft-orders/{draft_id}/checkout": P.CHECKOUTS,  # the invoice link's checkout (its cart token)
    "GET /orders": P.ORDERS_SEARCH,
    "GET /orders/{order_id}": P.ORDERS_READ,
    "GET /orders/{order_id}/invoice.pdf": P.ORDERS_READ,
    "GET /orders/{order_id}/refunds": P.ORDERS_READ,
    "POST /orders/{order_id}/returns": P.RETURNS_REQUEST,
    "GET /orders/{order_id}/returns": P.ORDERS_READ,
    "GET /returns/{rma_id}": P.ORDERS_READ,
    # storefront: subscriptions, managed on the customer's behalf like checkouts
    "GET /subscription-plans": P.CATALOG_READ,  # the active plans, to offer (their discount is public anyway)
    "GET /subscriptions": P.ORDERS_SEARCH,
    "POST /subscriptions": P.CHECKOUTS,
    "GET /subscriptions/{subscription_id}": P.ORDERS_READ,
    "PATCH /subscriptions/{subscription_id}": P.CHECKOUTS,
    "POST /subscriptions/{subscription_id}/pause": P.CHECKOUTS,
    "POST /subscriptions/{subscription_id}/resume": P.CHECKOUTS,
    "POST /subscriptions/{subscription_id}/skip": P.CHECKOUTS,
    "POST /subscriptions/{subscription_id}/cancel": P.CHECKOUTS,
    "POST /subscriptions/{subscription_id}/payment-method": P.CHECKOUTS,
    # storefront: customer accounts (sign-up, sign-in) and a signed-in customer's self-service
    "POST /customers": P.CHECKOUTS,
    "POST /customers/sessions": P.CHECKOUTS,
    "POST /customers/sign-in-links": P.CHECKOUTS,
    "POST /customers/sign-in-links/redeem": P.CHECKOUTS,
    "GET /me": P.ORDERS_READ,
    "GET /me/orders": P.ORDERS_READ,
    "GET /me/subscriptions": P.ORDERS_READ,
    "GET /me/addresses": P.ORDERS_READ,
    "POST /me/addresses": P.CHECKOUTS,
    "DELETE /me/addresses/{address_id}": P.CHECKOUTS,
    # support: privacy requests (GDPR/CCPA), audited
    "GET /customers": P.CUSTOMER_PRIVACY,  # find a customer by email
    "GET /customers/{customer_id}/export": P.CUSTOMER_PRIVACY,
    "POST /customers/{customer_id}/erase": P.CUSTOMER_PRIVACY,
    # support
    "POST /orders/{order_id}/cancel": P.ORDERS_SUPPORT,
    "POST /orders/{order_id}/refunds": P.ORDERS_SUPPORT,
    "POST /orders/{order_id}/edits": P.ORDERS_SUPPORT,
    "POST /returns/{rma_id}/approve": P.ORDERS_SUPPORT,
    "POST /returns/{rma_id}/reject": P.ORDERS_SUPPORT,
    "GET /orders/{order_id}/audit": P.AUDIT_READ,
    "POST /checkouts/{checkout_id}/review": P.ORDERS_SUPPORT,  # fraud review decision
    "POST /orders/{order_id}/alerts/resolve": P.ORDERS_SUPPORT,  # leaves the orders_needing_attention queue
    # draft orders (phone orders, invoices), audited
    "POST /draft-orders": P.ORDERS_SUPPORT,
    "GET /draft-orders/{draft_id}": P.ORDERS_SUPPORT,
    "PATCH /draft-orders/{draft_id}": P.ORDERS_SUPPORT,
    "DELETE /draft-orders/{draft_id}": P.ORDERS_SUPPORT,
    "POST /draft-orders/{draft_id}/quote": P.ORDERS_SUPPORT,
    "POST /draft-orders/{draft_id}/complete": P.ORDERS_SUPPORT,
    "POST /draft-orders/{draft_id}/send-invoice": P.ORDERS_SUPPORT,
    # work queues: every staff role but catalog; each queue shows only to roles that may act on it
    "GET /work-queues": P.WORK_QUEUES,
    "GET /work-queues/{queue}": P.WORK_QUEUES,
    # ops (the warehouse packs, receives and inspects: Permission.WAREHOUSE)
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
    "GET /reports/payments": P.REPORTS,
    "GET /reports/fulfilment": P.REPORTS,
    "GET /reports/returns": P.REPORTS,
    "GET /reports/inventory": P.REPORTS,
    "GET /reports/fraud": P.REPORTS,
    "GET /reports/reconciliation": P.REPORTS,
    "GET /audit": P.AUDIT_BROWSE,  # every action by anyone; one order's trail is support's (AUDIT_READ)
    # inventory admin: the stock list, bulk counts, reorder points and safety stock
    "GET /inventory": P.INVENTORY_ADMIN,
    "POST /admin/inventory/counts": P.INVENTORY_ADMIN,
    "PATCH /admin/inventory/{sku}": P.INVENTORY_ADMIN,
    "PATCH /admin/inventory/{sku}/locations/{location_code}": P.INVENTORY_ADMIN,
    # Business figures (checkout volumes, latencies): ops, not public. Scrapers send an ops key
    # (Prometheus `authorization: {credentials_file: …}`).
    "GET /metrics": P.METRICS,
    # catalog (products, prices, promotions, plans) and admin
    "POST /admin/catalog/products": P.CATALOG_ADMIN,
    "PATCH /admin/catalog/products/{product_id}": P.CATALOG_ADMIN,
    "POST /admin/catalog/products/{product_id}/variants": P.CATALOG_ADMIN,
    "PATCH /admin/catalog/variants/{sku}": P.CATALOG_ADMIN,
    "PUT /admin/catalog/variants/{sku}/prices": P.CATALOG_ADMIN,
    "POST /admin/catalog/import": P.CATALOG_ADMIN,
    # subscription plans: the only source of a subscription's discount
    "GET /admin/catalog/subscription-plans": P.CATALOG_ADMIN,
    "POST /admin/catalog/subscription-plans": P.CATALOG_ADMIN,
    "PATCH /admin/catalog/subscription-plans/{plan_id}": P.CATALOG_ADMIN,
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


# Each console page or action needs what its JSON route needs (read from the table above, so the two cannot
# drift apart); signing in and out need only a key holding CONSOLE. A console route missing here is admin-only.
_SAME_AS_API = {
    "GET /console/search": "GET /orders",
    "GET /console/orders/{order_id}": "GET /orders/{order_id}",
    "POST /console/orders/{order_id}/cancel": "POST /orders/{order_id}/cancel",
    "POST /console/orders/{order_id}/refund": "POST /orders/{order_id}/refunds",
    "POST /console/orders/{order_id}/returns": "POST /orders/{order_id}/returns",
    "POST /console/orders/{order_id}/alerts/resolve": "POST /orders/{order_id}/alerts/resolve",
    "POST /console/returns/{rma_id}/approve": "POST /returns/{rma_id}/approve",
    "POST /console/returns/{rma_id}/reject": "POST /returns/{rma_id}/reject",
    "POST /console/returns/{rma_id}/receive": "POST /returns/{rma_id}/receive",
    "POST /console/returns/{rma_id}/inspect": "POST /returns/{rma_id}/inspect",
    "POST /console/checkouts/{checkout_id}/review": "POST /checkouts/{checkout_id}/review",
    "POST /console/shipments/{shipment_id}/packed": "POST /shipments/{shipment_id}/packed",
    "POST /console/shipments/{shipment_id}/retry-carrier": "POST /shipments/{shipment_id}/retry-carrier",
    # Printing what to pick and pack is part of packing.
    "GET /console/shipments/{shipment_id}/packing-slip.pdf": "POST /shipments/{shipment_id}/packed",
    "GET /console/pick-list.pdf": "POST /shipments/{shipment_id}/packed",
    "GET /console/queues/{queue}": "GET /work-queues/{queue}",
    "GET /console/inventory": "GET /inventory",
    "POST /console/inventory/{sku}/reorder-point": "PATCH /admin/inventory/{sku}",
    "POST /console/inventory/{sku}/locations/{location_code}/safety-stock":
        "PATCH /admin/inventory/{sku}/locations/{location_code}",
    "GET /console/audit": "GET /audit",
    "GET /console/reports": "GET /reports/sales",
}
CONSOLE_PERMISSIONS: dict[str, P] = {
    "GET /console": P.CONSOLE,  # the home page: the caller's work queues
    "POST /console/logout": P.CONSOLE,
    **{console: ROUTE_PERMISSIONS[api] for console, api in _SAME_AS_API.items()},
}


def console_permission(method: str, path: str) -> P:
    """What a console page or action needs beyond a console session; unlisted ones are admin-only."""
    return CONSOLE_PERMISSIONS.get(f"{method} {path}", P.UNCLASSIFIED)


# Whose resource a storefront may reach on each route it is allowed (the proof it must present).
ANYONE = "anyone"  # no one's resource: catalog, options, creating a cart, sign-up/in
CART = "cart"  # {cart_id}: the cart token, or the customer token of the cart's customer
CART_IN_BODY = "cart_in_body"  # POST /checkouts: the same proof for the body's cart_id (checked by the route)
CHECKOUT = "checkout"  # {checkout_id}: the proof of the checkout's cart
ORDER = "order"  # {order_id}: the guest order token, or the customer token of the order's customer
RETURN = "return"  # {rma_id}: the proof of the return's order
SUBSCRIPTION = "subscription"  # {subscription_id}: the customer token of the subscription's customer
SELF = "self"  # /me…: a customer token, for every role (there is no "me" without one)
FOR_SIGNED_IN = "for_signed_in"  # POST /subscriptions: belongs to the token's customer (required for a storefront)

ROUTE_OWNERSHIP: dict[str, str] = {
    "GET /products": ANYONE,
    "GET /products/{product_id}": ANYONE,
    "GET /inventory/{sku}": ANYONE,
    "GET /checkouts/options": ANYONE,
    "GET /subscription-plans": ANYONE,
    "POST /customers": ANYONE,
    "POST /customers/sessions": ANYONE,
    "POST /customers/sign-in-links": ANYONE,
    "POST /customers/sign-in-links/redeem": ANYONE,
    "POST /carts": ANYONE,  # answers the new cart's token; linked to the customer token if one is sent
    "GET /carts/{cart_id}": CART,
    "POST /carts/{cart_id}/lines": CART,
    "PATCH /carts/{cart_id}/lines/{line_id}": CART,
    "DELETE /carts/{cart_id}/lines/{line_id}": CART,
    "POST /carts/{cart_id}/discount-codes": CART,
    "DELETE /carts/{cart_id}/discount-codes/{code}": CART,
    "PUT /carts/{cart_id}/email": CART,
    "POST /carts/{cart_id}/quote": CART,
    "POST /checkouts": CART_IN_BODY,
    "GET /checkouts/{checkout_id}": CHECKOUT,
    # The draft's cart token from the invoice link; checked by the handler (services/draft_orders.py), which
    # answers draft_not_found without it.
    "POST /draft-orders/{draft_id}/checkout": ANYONE,
    "GET /orders/{order_id}": ORDER,
    "GET /orders/{order_id}/invoice.pdf": ORDER,
    "GET /orders/{order_id}/refunds": ORDER,
    "POST /orders/{order_id}/returns": ORDER,
    "GET /orders/{order_id}/returns": ORDER,
    "GET /returns/{rma_id}": RETURN,
    "POST /subscriptions": FOR_SIGNED_IN,
    "GET /subscriptions/{subscription_id}": SUBSCRIPTION,
    "PATCH /subscriptions/{subscription_id}": SUBSCRIPTION,
    "POST /subscriptions/{subscription_id}/pause": SUBSCRIPTION,
    "POST /subscriptions/{subscription_id}/resume": SUBSCRIPTION,
    "POST /subscriptions/{subscription_id}/skip": SUBSCRIPTION,
    "POST /subscriptions/{subscription_id}/cancel": SUBSCRIPTION,
    "POST /subscriptions/{subscription_id}/payment-method": SUBSCRIPTION,
    "GET /me": SELF,
    "GET /me/orders": SELF,
    "GET /me/subscriptions": SELF,
    "GET /me/addresses": SELF,
    "POST /me/addresses": SELF,
    "DELETE /me/addresses/{address_id}": SELF,
}


def ownership_for(method: str, path: str) -> str:
    """Whose resource the route touches; routes a storefront may not call act for anyone."""
    return ROUTE_OWNERSHIP.get(f"{method} {path}", ANYONE)


def permission_for(method: str, path: str) -> P | None:
    """The permission a route needs (``PUBLIC`` for none); unlisted routes are admin-only."""
    return ROUTE_PERMISSIONS.get(f"{method} {path}", P.UNCLASSIFIED)
