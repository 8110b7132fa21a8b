"""Promotions, discount codes and price lists through HTTP, real PostgreSQL and the checkout saga.

Promotions here are code-only or scoped to the test's own SKU: the module shares one database.
"""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from db import orders as order_store
from db import payments as ledger
from db import promotions as promotion_store
from db.price_cache import CACHE, bump_version
from db.tables import code_redemptions, discount_codes, prices, variants
from models.errors import Conflict, IllegalTransition
from models.order_state import OrderStatus
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import (
    atp, cart_with, checkout_body, checkout_to_end, delivered, eventually, finished_checkout, order_with_shipments,
    refund, start_checkout, workflow_result,
)
from workflows.shipment import ShipmentWorkflow


@pytest.fixture(scope="module")
async def warehouse(engine):
    return await make_location(engine)


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def promotion_with_code(api, actions: list[dict], *, usage_limit=None, per_customer_limit=None,
                              expires_at=None, **fields) -> tuple[str, str]:
    promotion_id, code = _id("promo"), _id("CODE").upper()
    created = await api.post("/admin/promotions", json={"id": promotion_id, "code_required": True,
                                                        "actions": actions, **fields})
    assert created.status_code == 201, created.text
    body = {"code": code, "usage_limit": usage_limit, "per_customer_limit": per_customer_limit,
            "expires_at": expires_at}
    made = await api.post(f"/admin/promotions/{promotion_id}/codes", json=body)
    assert made.status_code == 201, made.text
    return promotion_id, code


async def attach(api, cart_id: str, code: str):
    return await api.post(f"/carts/{cart_id}/discount-codes", json={"code": code})


async def uses(api, promotion_id: str) -> int:
    (code,) = (await api.get(f"/admin/promotions/{promotion_id}/codes")).json()
    return code["uses"]


async def test_checkout_with_a_code_gets_the_discounted_total(api, temporal_env, engine, warehouse):
    sku = await make_sku(engine, price=2500, stock={warehouse: 10}, weight_grams=300)
    promotion_id, code = await promotion_with_code(
        api, [{"type": "percent_off", "basis_points": 1000}], applies_to="order")
    cart_id = await cart_with(api, {sku: 2})

    attached = await attach(api, cart_id, code.lower())
    assert attached.status_code == 201, attached.text
    cart = attached.json()
    assert (cart["subtotal"], cart["discount_total"], cart["total"]) == (5000, 500, 4500)
    assert cart["discount_codes"] == [{"code": code, "applied": True}]
    assert cart["lines"][0]["discount"] == 500

    result = await checkout_to_end(api, temporal_env.client, cart_id)

    assert result["status"] == "completed", result
    order = (await api.get(f"/orders/{result['order_id']}")).json()
    assert order["totals"] == {"subtotal": 5000, "discount": 500, "tax": 326, "shipping": 599,
                               "total": 4500 + 326 + 599}  # tax: 7.25 % of the discounted 45.00
    assert order["lines"][0]["discount"] == 500 and order["lines"][0]["line_total"] == 4500
    assert order["promotions"] == [{"promotion_id": promotion_id, "code": code, "amount": 500,
                                    "free_shipping": False, "allocations": {sku: 500}}]
    assert await uses(api, promotion_id) == 1


async def test_free_shipping_code_discounts_the_shipping_rate(api, temporal_env, engine, warehouse):
    sku = await make_sku(engine, price=1000, stock={warehouse: 5})
    _, code = await promotion_with_code(api, [{"type": "free_shipping"}])
    cart_id = await cart_with(api, {sku: 1})
    assert (await attach(api, cart_id, code)).json()["discounts"][0]["free_shipping"] is True

    result = await checkout_to_end(api, temporal_env.client, cart_id)

    order = (await api.get(f"/orders/{result['order_id']}")).json()
    assert order["totals"] == {"subtotal": 1000, "discount": 0, "tax": 73, "shipping": 0, "total": 1073}


async def test_attaching_codes_reports_precise_errors(api, engine, warehouse):
    sku = await make_sku(engine, stock={warehouse: 5})
    cart_id = await cart_with(api, {sku: 1})
    percent = [{"type": "percent_off", "basis_points": 500}]

    unknown = await attach(api, cart_id, "NO-SUCH-CODE")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "discount_code_not_found")

    expired_at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    _, expired = await promotion_with_code(api, percent, expires_at=expired_at)
    response = await attach(api, cart_id, expired)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "discount_code_inactive")

    killed_id, killed = await promotion_with_code(api, percent)
    assert (await attach(api, cart_id, killed)).status_code == 201
    assert (await api.post(f"/admin/promotions/{killed_id}/deactivate")).json()["active"] is False
    cart = (await api.get(f"/carts/{cart_id}")).json()
    assert cart["discount_total"] == 0 and cart["discount_codes"] == [{"code": killed, "applied": False}]
    response = await attach(api, await cart_with(api, {sku: 1}), killed)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "discount_code_inactive")

    _, lapsing = await promotion_with_code(api, percent)
    lapsing_cart = await cart_with(api, {sku: 1})
    assert (await attach(api, lapsing_cart, lapsing)).json()["discount_total"] == 50
    async with engine.begin() as conn:  # it expires while on the cart: it stops applying
        await conn.execute(update(discount_codes).where(discount_codes.c.code == lapsing)
                           .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    cart = (await api.get(f"/carts/{lapsing_cart}")).json()
    assert cart["discount_total"] == 0 and cart["discount_codes"] == [{"code": lapsing, "applied": False}]

    _, single = await promotion_with_code(api, percent, usage_limit=1)
    async with engine.begin() as conn:
        await promotion_store.redeem(conn, single, "someone@example.com", "ord_elsewhere")
    response = await attach(api, cart_id, single)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "discount_code_exhausted")

    removed = await api.delete(f"/carts/{cart_id}/discount-codes/{killed}")
    assert removed.status_code == 200 and removed.json()["discount_codes"] == []
    again = await api.delete(f"/carts/{cart_id}/discount-codes/{killed}")
    assert again.json()["error"]["code"] == "discount_code_not_attached"


async def test_single_use_code_under_concurrent_checkouts_goes_to_exactly_one(api, temporal_env, engine, warehouse):
    sku = await make_sku(engine, price=2000, stock={warehouse: 10})
    promotion_id, code = await promotion_with_code(api, [{"type": "fixed_off", "amount": 500}],
                                                   currency="USD", usage_limit=1)
    carts = [await cart_with(api, {sku: 1}) for _ in range(6)]
    for cart_id in carts:
        assert (await attach(api, cart_id, code)).status_code == 201

    started = await asyncio.gather(*(start_checkout(api, checkout_body(cart_id)) for cart_id in carts))
    results = await asyncio.gather(*(finished_checkout(api, temporal_env.client, r.json()["checkout_id"])
                                     for r in started))

    completed = [r for r in results if r["status"] == "completed"]
    assert len(completed) == 1
    assert {r["error"]["code"] for r in results if r["status"] == "failed"} == {"discount_code_exhausted"}
    order = (await api.get(f"/orders/{completed[0]['order_id']}")).json()
    assert order["totals"]["discount"] == 500
    assert await uses(api, promotion_id) == 1
    assert await atp(api, sku) == 9, "the failed checkouts gave their reservations back"
    async with engine.connect() as conn:
        for failed in (r for r in results if r["status"] == "failed"):
            kinds = {op.kind for op in await ledger.operations_for(conn, failed["checkout_id"])}
            assert "void" in kinds or "authorize" not in kinds, "an authorization of a failed checkout is voided"
    statuses = [(await api.get(f"/carts/{cart_id}")).json()["status"] for cart_id in carts]
    assert sorted(statuses) == ["checked_out"] + ["open"] * 5


async def test_redemption_counts_once_per_order_and_respects_limits_under_concurrency(api, engine):
    promotion_id, code = await promotion_with_code(api, [{"type": "free_shipping"}], usage_limit=3)

    async def redeem(order_id: str, email: str = "a@example.com") -> str:
        try:
            async with engine.begin() as conn:
                return "counted" if await promotion_store.redeem(conn, code, email, order_id) else "replayed"
        except Conflict as refused:
            return refused.code

    outcomes = await asyncio.gather(*(redeem(f"ord_{i}", f"c{i}@example.com") for i in range(8)))
    assert sorted(outcomes) == ["counted"] * 3 + ["discount_code_exhausted"] * 5
    counted = [f"ord_{i}" for i, outcome in enumerate(outcomes) if outcome == "counted"]
    assert await redeem(counted[0], f"c{counted[0][4:]}@example.com") == "replayed"
    async with engine.connect() as conn:
        assert (await conn.execute(select(discount_codes.c.uses).where(discount_codes.c.code == code))).scalar() == 3
        rows = (await conn.execute(select(code_redemptions).where(code_redemptions.c.code == code))).all()
    assert sorted(r.order_id for r in rows) == sorted(counted)

    _, once_each = await promotion_with_code(api, [{"type": "free_shipping"}], per_customer_limit=1)
    code = once_each
    assert await redeem("ord_x1", "Bo@Example.com") == "counted"
    assert await redeem("ord_x2", "bo@example.com") == "discount_code_exhausted"
    assert await redeem("ord_x3", "other@example.com") == "counted"


async def test_price_changes_invalidate_computed_prices(api, engine):
    sku = await make_sku(engine, price=1000)
    preview = lambda **params: api.get("/admin/promotions/price-preview",  # noqa: E731
                                       params={"sku": sku, "currency": "USD", **params})
    assert (await preview()).json()["price"] == 1000
    hits = CACHE.hits
    assert (await preview()).json()["price"] == 1000
    assert CACHE.hits == hits + 1, "the second read is served from the cache"

    async with engine.begin() as conn:  # a write that does not bump the version: the cache still answers
        variant_id = (await conn.execute(select(variants.c.id).where(variants.c.sku == sku))).scalar()
        await conn.execute(update(prices).where(prices.c.variant_id == variant_id).values(amount=111))
    assert (await preview()).json()["price"] == 1000
    async with engine.begin() as conn:
        await bump_version(conn)
    assert (await preview()).json()["price"] == 111

    changed = await api.put(f"/admin/catalog/variants/{sku}/prices", json={"prices": [
        {"currency": "USD", "amount": 900}]})
    assert changed.status_code == 200, changed.text
    assert (await preview()).json()["price"] == 900

    list_id = _id("vip")
    created = await api.post("/admin/promotions/price-lists", json={"id": list_id, "name": "VIP", "currency": "USD",
                                                                    "customer_group": "vip"})
    assert created.status_code == 201, created.text
    await api.put(f"/admin/promotions/price-lists/{list_id}/prices", json={"prices": [{"sku": sku, "amount": 700}]})
    assert (await preview(segment="vip")).json()["price"] == 700
    assert (await preview()).json()["price"] == 900, "not in the group: the base price"

    promo = {"id": _id("sale"), "actions": [{"type": "percent_off", "basis_points": 1000}],
             "conditions": {"skus": [sku]}}
    assert (await api.post("/admin/promotions", json=promo)).status_code == 201
    assert (await preview(segment="vip")).json()["display"] == 630
    await api.post(f"/admin/promotions/{promo['id']}/deactivate")
    assert (await preview(segment="vip")).json()["display"] == 700


async def test_group_members_get_their_price_list_in_the_cart(api, engine):
    sku = await make_sku(engine, price=2000)
    group, list_id = _id("wholesale"), _id("wholesale")
    await api.post("/admin/promotions/price-lists", json={"id": list_id, "name": "Wholesale", "currency": "usd",
                                                          "customer_group": group})
    await api.put(f"/admin/promotions/price-lists/{list_id}/prices", json={"prices": [{"sku": sku, "amount": 1500}]})
    assert (await api.put(f"/admin/promotions/customer-groups/{group}/members/buyer@example.com")).status_code == 204

    member = (await api.post("/carts", json={"currency": "USD", "email": "Buyer@example.com"})).json()["id"]
    stranger = (await api.post("/carts", json={"currency": "USD", "email": "x@example.com"})).json()["id"]
    for cart_id, expected in ((member, 1500), (stranger, 2000)):
        added = await api.post(f"/carts/{cart_id}/lines", json={"sku": sku, "quantity": 1})
        assert added.json()["lines"][0]["unit_price"] == expected


# ---------------------------------------------------------------- uses given back on cancel, kept on refund
async def order_using(api, temporal_env, engine, warehouse, code: str) -> dict:
    """A completed checkout of a fresh SKU with ``code`` applied (same customer every time)."""
    sku = await make_sku(engine, price=2000, stock={warehouse: 5})
    cart_id = await cart_with(api, {sku: 1})
    attached = await attach(api, cart_id, code)
    assert attached.status_code == 201, attached.text
    result = await checkout_to_end(api, temporal_env.client, cart_id)
    assert result["status"] == "completed", result
    return result


async def cancel(api, order_id: str):
    async def answered():  # 409 order_not_ready while the order workflow starts its shipments: retry
        response = await api.post(f"/orders/{order_id}/cancel", json={"reason": "customer changed mind"})
        return None if response.json().get("error", {}).get("code") == "order_not_ready" else response

    response = await eventually(answered)
    assert response is not None and response.status_code == 200, response and response.text
    return response


async def redemptions(engine, code: str) -> list[str]:
    async with engine.connect() as conn:
        return sorted((await conn.execute(select(code_redemptions.c.order_id)
                                          .where(code_redemptions.c.code == code))).scalars())


async def test_cancelled_order_gives_its_single_use_code_back(api, temporal_env, engine, warehouse):
    promotion_id, code = await promotion_with_code(api, [{"type": "fixed_off", "amount": 300}], currency="USD",
                                                   usage_limit=1, per_customer_limit=1)
    first = await order_using(api, temporal_env, engine, warehouse, code)
    refused = await attach(api, await cart_with(api, {await make_sku(engine, stock={warehouse: 1}): 1}), code)
    assert refused.json()["error"]["code"] == "discount_code_exhausted"

    await cancel(api, first["order_id"])

    assert await uses(api, promotion_id) == 0 and await redemptions(engine, code) == []
    order = (await api.get(f"/orders/{first['order_id']}")).json()
    assert order["status"] == "cancelled"
    assert [(e["type"], e["data"]) for e in order["events"] if e["type"] == "discount_code.released"] == [
        ("discount_code.released", {"code": code})]
    assert [p["code"] for p in order["promotions"]] == [code], "the order keeps the history of its discount"

    again = await order_using(api, temporal_env, engine, warehouse, code)  # same customer, same single-use code
    assert (await api.get(f"/orders/{again['order_id']}")).json()["totals"]["discount"] == 300
    assert await uses(api, promotion_id) == 1 and await redemptions(engine, code) == [again["order_id"]]


async def test_replayed_cancel_gives_a_use_back_only_once(api, temporal_env, engine, warehouse):
    promotion_id, code = await promotion_with_code(api, [{"type": "free_shipping"}], usage_limit=5)
    others = [(await order_using(api, temporal_env, engine, warehouse, code))["order_id"] for _ in range(2)]
    order_id = (await order_using(api, temporal_env, engine, warehouse, code))["order_id"]
    await order_with_shipments(api, order_id, 1)  # routed: its workflow now just waits for packing
    assert await uses(api, promotion_id) == 3

    async def cancel_event(event_id: str = f"{order_id}:cancel") -> bool:
        async with engine.begin() as conn:
            return await order_store.append_event(conn, order_id, event_id, "order.cancelled",
                                                  to_status=OrderStatus.CANCELLED)

    # The same cancel delivered twice at once (a retried activity): recorded once, released once.
    assert sorted(await asyncio.gather(cancel_event(), cancel_event())) == [False, True]
    assert await uses(api, promotion_id) == 2 and await redemptions(engine, code) == sorted(others)

    assert await cancel_event() is False, "a later replay is a no-op"
    with pytest.raises(IllegalTransition):  # a second, different cancel: the state machine refuses it
        await cancel_event("support:cancel-again")
    async with engine.begin() as conn:
        assert await promotion_store.release_order_codes(conn, order_id) == []
    assert await uses(api, promotion_id) == 2 and await redemptions(engine, code) == sorted(others)
    events = (await api.get(f"/orders/{order_id}")).json()["events"]
    assert [e["event_id"] for e in events if e["type"] == "discount_code.released"] == [f"code:{code}:released"]


async def test_releasing_is_idempotent_and_never_goes_below_zero(api, temporal_env, engine, warehouse):
    promotion_id, code = await promotion_with_code(api, [{"type": "free_shipping"}], usage_limit=2)
    first, second = [(await order_using(api, temporal_env, engine, warehouse, code))["order_id"] for _ in range(2)]

    async def release(order_id: str) -> list[str]:
        async with engine.begin() as conn:
            return await promotion_store.release_order_codes(conn, order_id)

    assert sorted(await asyncio.gather(*(release(first) for _ in range(4))), key=len) == [[], [], [], [code]]
    assert await uses(api, promotion_id) == 1 and await redemptions(engine, code) == [second]

    async with engine.begin() as conn:  # an operator zeroed the counter meanwhile
        await conn.execute(update(discount_codes).where(discount_codes.c.code == code).values(uses=0))
    assert await release(second) == [code]
    assert await uses(api, promotion_id) == 0 and await redemptions(engine, code) == []
    assert [p["code"] for p in await _promotions_of(engine, first)] == [code], "order_promotions are kept"


async def _promotions_of(engine, order_id: str) -> list[dict]:
    async with engine.connect() as conn:
        return await promotion_store.order_promotions_of(conn, order_id)


async def test_refunded_order_keeps_its_code_use(api, temporal_env, engine, warehouse):
    promotion_id, code = await promotion_with_code(api, [{"type": "percent_off", "basis_points": 1000}],
                                                   applies_to="order", usage_limit=1)
    done = await order_using(api, temporal_env, engine, warehouse, code)
    shipment = (await order_with_shipments(api, done["order_id"], 1))["shipments"][0]
    await api.post(f"/shipments/{shipment['id']}/packed")
    await temporal_env.client.get_workflow_handle(f"shipment-{shipment['id']}").signal(
        ShipmentWorkflow.tracking_update, delivered(f"d-{shipment['id']}"))
    assert await workflow_result(temporal_env.client, f"order-{done['order_id']}") == "delivered"

    partial = await refund(api, done["order_id"], {"amount": 100, "reason": "scuffed"})
    assert partial.status_code == 200 and partial.json()["order_status"] == "partially_refunded", partial.text
    rest = await refund(api, done["order_id"], {"reason": "the rest"})
    assert rest.status_code == 200 and rest.json()["order_status"] == "refunded", rest.text

    assert await uses(api, promotion_id) == 1 and await redemptions(engine, code) == [done["order_id"]]
    events = (await api.get(f"/orders/{done['order_id']}")).json()["events"]
    assert "discount_code.released" not in {e["type"] for e in events}
    refused = await attach(api, await cart_with(api, {await make_sku(engine, stock={warehouse: 1}): 1}), code)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "discount_code_exhausted")
