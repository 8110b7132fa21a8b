"""Prices come from the store: a storefront names an admin-defined plan, never a discount or an amount."""

import re
import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from api.access import ROUTE_PERMISSIONS
from db.tables import audit_log, subscriptions
from models.auth import allows
from tests.factories import make_location, make_sku, make_subscription_plan
from tests.integration.checkout_helpers import ADDRESS

# A request field whose name says it carries money: amounts, prices, percentages, discounts, totals.
MONEY_FIELD = re.compile(r"amount|price|percent|discount|total|_bp$|fee|cost", re.IGNORECASE)
# Named like money but naming none: codes the store validates and prices itself, and the total the shopper
# agreed to, which can only fail a checkout (price_changed), never set what is charged.
NOT_MONEY = {"discount_codes", "expected_total"}


def subscription(sku: str, **overrides) -> dict:
    return {"email": "ada@example.com", "payment_method": "pm_card_visa", "shipping_address": ADDRESS,
            "lines": [{"sku": sku, "quantity": 5}], "interval": "monthly",
            "anchor_date": datetime.now(UTC).date().isoformat(), **overrides}


async def subscribe(client, payload: dict):
    await _sign_in_a_shopper(client)
    return await client.post("/subscriptions", json=payload, headers={"Idempotency-Key": str(uuid.uuid4())})


async def _sign_in_a_shopper(client) -> None:
    """A storefront subscribes a signed-in customer (api/access.py): here each client acts for one shopper."""
    if "X-Customer-Token" not in client.headers:
        created = await client.post("/customers", json={"email": f"plans-{uuid.uuid4().hex[:8]}@example.com",
                                                         "password": "correct horse battery"})
        assert created.status_code == 201, created.text
        client.headers["X-Customer-Token"] = created.json()["customer_token"]


async def test_a_storefront_cannot_set_its_own_discount(api_as, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 10})
    free = await subscribe(api_as("storefront"), subscription(sku, discount_percent=100))
    assert free.status_code == 422 and free.json()["error"]["code"] == "price_not_accepted"
    for role in ("support", "admin"):  # no role names a discount: only a plan does
        refused = await subscribe(api_as(role), subscription(sku, discount_percent=10))
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "price_not_accepted"
    async with engine.connect() as conn:
        count = len((await conn.execute(select(subscriptions.c.id).where(subscriptions.c.lines[0]["sku"]
                                                                          .astext == sku))).all())
    assert count == 0, "a refused subscription must record nothing"


async def test_the_plan_sets_the_discount_and_later_plan_changes_keep_it(api_as, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 10})
    admin, storefront = api_as("admin"), api_as("storefront")
    plan = (await admin.post("/admin/catalog/subscription-plans", json={
        "name": f"Monthly {uuid.uuid4().hex[:6]}", "intervals": ["monthly"], "discount_bp": 1500})).json()
    offered = await storefront.get("/subscription-plans")
    assert offered.status_code == 200 and plan["id"] in [p["id"] for p in offered.json()]

    created = await subscribe(storefront, subscription(sku, plan_id=plan["id"]))
    assert created.status_code == 201, created.text
    assert float(created.json()["discount_percent"]) == 15 and created.json()["plan_id"] == plan["id"]

    changed = await admin.patch(f"/admin/catalog/subscription-plans/{plan['id']}", json={"discount_bp": 500})
    assert changed.status_code == 200 and changed.json()["discount_bp"] == 500
    kept = (await storefront.get(f"/subscriptions/{created.json()['id']}")).json()
    assert float(kept["discount_percent"]) == 15, "a plan change applies to new subscriptions only"


async def test_plans_refuse_wrong_intervals_withdrawn_and_unknown_plans(api_as, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 10})
    storefront = api_as("storefront")
    weekly = await make_subscription_plan(engine, intervals=("weekly",))
    withdrawn = await make_subscription_plan(engine, active=False)
    wrong = await subscribe(storefront, subscription(sku, plan_id=weekly))
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "interval_not_in_plan"
    gone = await subscribe(storefront, subscription(sku, plan_id=withdrawn))
    assert gone.status_code == 422 and gone.json()["error"]["code"] == "subscription_plan_inactive"
    assert withdrawn not in [p["id"] for p in (await storefront.get("/subscription-plans")).json()]
    unknown = await subscribe(storefront, subscription(sku, plan_id="plan_nope"))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "subscription_plan_not_found"


async def test_a_plan_subscription_cannot_switch_to_an_interval_the_plan_does_not_offer(api_as, engine):
    sku = await make_sku(engine, stock={await make_location(engine): 10})
    storefront = api_as("storefront")
    monthly_only = await make_subscription_plan(engine, discount_bp=3000, intervals=("monthly",))
    created = await subscribe(storefront, subscription(sku, plan_id=monthly_only))
    assert created.status_code == 201, created.text
    weekly = await storefront.patch(f"/subscriptions/{created.json()['id']}", json={"interval": "weekly"})
    assert weekly.status_code == 422 and weekly.json()["error"]["code"] == "interval_not_in_plan"


async def test_only_catalog_admins_manage_plans_and_every_change_is_audited(api_as, engine):
    plan = {"name": f"Weekly {uuid.uuid4().hex[:6]}", "intervals": ["weekly"], "discount_bp": 1000}
    for role in ("storefront", "support", "ops"):
        refused = await api_as(role).post("/admin/catalog/subscription-plans", json=plan)
        assert refused.status_code == 403, role
    admin = api_as("admin")
    created = await admin.post("/admin/catalog/subscription-plans", json=plan)
    assert created.status_code == 201, created.text
    duplicate = await admin.post("/admin/catalog/subscription-plans", json=plan)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "subscription_plan_name_taken"
    plan_id = created.json()["id"]
    off = await admin.patch(f"/admin/catalog/subscription-plans/{plan_id}", json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert plan_id in [p["id"] for p in (await admin.get("/admin/catalog/subscription-plans")).json()]
    too_much = await admin.patch(f"/admin/catalog/subscription-plans/{plan_id}", json={"discount_bp": 10_001})
    assert too_much.status_code == 422
    async with engine.connect() as conn:
        actions = (await conn.execute(select(audit_log.c.action).where(audit_log.c.target == plan_id)
                                      .order_by(audit_log.c.seq))).scalars().all()
    assert actions == ["subscription_plan.created", "subscription_plan.updated"]


def _field_names(schema: dict, components: dict, seen: set[str]) -> set[str]:
    """Every property name reachable from a JSON schema (following $ref, arrays and unions)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return set()
        seen.add(name)
        return _field_names(components[name], components, seen)
    names = set(schema.get("properties", {}))
    children = [*schema.get("properties", {}).values(), *schema.get("anyOf", []), *schema.get("allOf", []),
                *schema.get("oneOf", []), *([schema["items"]] if "items" in schema else [])]
    for child in children:
        names |= _field_names(child, components, seen)
    return names


def test_no_storefront_request_body_carries_a_money_field(api_app):
    """Walks every route a storefront key may call: no amount, price, percentage or discount in its body."""
    spec = api_app.openapi()
    components = spec["components"]["schemas"]
    offending, walked = {}, set()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            permission = ROUTE_PERMISSIONS.get(f"{method.upper()} {path}")
            if permission is None or not allows("storefront", permission):
                continue
            walked.add(f"{method.upper()} {path}")
            for media in operation.get("requestBody", {}).get("content", {}).values():
                money = {n for n in _field_names(media["schema"], components, set())
                         if MONEY_FIELD.search(n) and n not in NOT_MONEY}
                if money:
                    offending[f"{method.upper()} {path}"] = sorted(money)
    assert {"POST /subscriptions", "POST /checkouts", "POST /carts/{cart_id}/lines"} <= walked
    assert offending == {}
