"""The console over HTTP: sign-in, CSRF, finding orders, cancel, refunds and returns from the order page.
(Work queues: test_console_queues.py; inventory, audit, reports: test_console_admin.py; roles:
test_console_roles.py.)"""

import re
import uuid
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from db import payments as ledger
from db.tables import audit_log, console_sessions
from tests.factories import make_api_key, make_location, make_sku
from tests.helpers import eventually
from tests.integration.console_helpers import act, audit_actions, browser, csrf_in, flash_of, follow, signed_in
from tests.integration.checkout_helpers import cart_with, checkout_to_end
from tests.integration.checkout_helpers import order_with_shipments
from tests.integration.checkout_helpers import delivered_order, placed_order


async def test_unauthenticated_and_api_key_only_requests_are_sent_to_login(api_app, role_keys):
    async with browser(api_app) as anonymous:
        for method, path in [("GET", "/console"), ("GET", "/console/orders/ord_x"),
                             ("POST", "/console/orders/ord_x/cancel"), ("POST", "/console/returns/rma_x/approve")]:
            response = await anonymous.request(method, path)
            assert response.status_code == 303, (path, response.text)
            assert response.headers["location"].startswith("/console/login?next=")
        assert parse_qs(urlsplit((await anonymous.get("/console/orders/ord_x")).headers["location"]).query) == {
            "next": ["/console/orders/ord_x"]}
        login = await anonymous.get("/console/login")
        assert login.status_code == 200 and "text/html" in login.headers["content-type"]
        assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
    # A Bearer key is not a console session.
    async with browser(api_app) as with_header:
        response = await with_header.get("/console", headers={"Authorization": f"Bearer {role_keys['support']}"})
        assert response.status_code == 303


async def test_login_needs_a_live_support_key_and_sets_a_strict_cookie(api_app, role_keys, engine):
    async with browser(api_app) as client:
        token = csrf_in((await client.get("/console/login")).text)
        stale = await client.post("/console/login", data={"api_key": role_keys["support"], "csrf": "forged"})
        assert stale.status_code == 400 and "expired" in stale.text
        token = csrf_in(stale.text)
        wrong = await client.post("/console/login", data={"api_key": "ofk_nope", "csrf": token})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        shopper = await client.post("/console/login", data={"api_key": role_keys["storefront"],
                                                            "csrf": csrf_in(wrong.text)})
        assert shopper.status_code == 403 and "needs warehouse" in shopper.text  # a shop, not a member of staff
        ok = await client.post("/console/login", data={"api_key": role_keys["support"], "csrf": csrf_in(shopper.text),
                                                       "next": "https://evil.example/"})
        assert ok.status_code == 303 and ok.headers["location"] == "/console"  # no open redirect
        cookie = next(h for h in ok.headers.get_list("set-cookie") if h.startswith("orderflow_console="))
        assert all(part in cookie for part in ("HttpOnly", "SameSite=strict", "Path=/console"))
        assert "Secure" not in cookie  # plain http in tests; see the https case below
        home = await client.get("/console")
        assert home.status_code == 200 and "test support (support)" in home.text
    async with engine.connect() as conn:
        stored = (await conn.execute(select(console_sessions))).all()
        assert stored and all(len(row.token_hash) == 64 for row in stored)  # only hashes at rest
        logins = (await conn.execute(select(audit_log).where(audit_log.c.action == "console.login"))).all()
        assert logins and logins[-1].actor_role == "support"
    async with browser(api_app, "https") as secure:
        form = await secure.get("/console/login")
        ok = await secure.post("/console/login", data={"api_key": role_keys["admin"], "csrf": csrf_in(form.text)})
        assert "Secure" in next(h for h in ok.headers.get_list("set-cookie") if h.startswith("orderflow_console="))


async def test_logout_and_revocation_end_the_session(api_app, api, engine):
    secret = await make_api_key(engine, "support", "soon revoked")
    client = await signed_in(api_app, secret)
    home = await client.get("/console")
    assert (await client.post("/console/logout", data={"csrf": "wrong"})).status_code == 403
    out = await client.post("/console/logout", data={"csrf": csrf_in(home.text)})
    assert out.status_code == 303 and out.headers["location"] == "/console/login?m=signed_out"
    assert (await client.get("/console")).status_code == 303

    client = await signed_in(api_app, secret)
    assert (await client.get("/console")).status_code == 200
    key_id = "key_" + secret.split("_")[1]
    assert (await api.post(f"/admin/api-keys/{key_id}/revoke", json={"reason": "left"})).status_code == 200
    assert (await client.get("/console")).status_code == 303


async def test_find_orders_by_email_newest_first_in_pages_and_by_id(api_app, api, role_keys, temporal_env, engine):
    email = f"Console.{uuid.uuid4().hex[:8]}@Example.com"
    sku = await make_sku(engine, stock={await make_location(engine): 10})
    order_ids = []
    for _ in range(3):
        cart_id = await cart_with(api, {sku: 1})
        order_ids.append((await checkout_to_end(api, temporal_env.client, cart_id, email=email))["order_id"])
    client = await signed_in(api_app, role_keys["support"])

    first = await client.get("/console/search", params={"q": email.lower(), "limit": "2"})
    assert first.status_code == 200
    listed = re.findall(r'href="/console/orders/(ord_[a-z0-9]+)"', first.text)
    assert listed == order_ids[::-1][:2]
    older = re.search(r'href="([^"]+)">Older orders', first.text).group(1).replace("&amp;", "&")
    second = await client.get(older)
    assert re.findall(r'href="/console/orders/(ord_[a-z0-9]+)"', second.text) == order_ids[:1]
    assert "Older orders" not in second.text

    by_id = await client.get("/console/search", params={"q": f" {order_ids[0]} "})
    assert by_id.status_code == 303 and by_id.headers["location"] == f"/console/orders/{order_ids[0]}"
    missing = await client.get("/console/search", params={"q": "ord_nothere"})
    assert missing.status_code == 200 and "No order with id ord_nothere" in missing.text
    nobody = await client.get("/console/search", params={"q": "nobody@example.com"})
    assert "No orders for this email" in nobody.text
    assert (await client.get("/console/orders/ord_nothere")).status_code == 404


async def test_cancel_from_the_console_is_audited(api_app, api, role_keys, temporal_env, engine):
    done, _ = await placed_order(api, temporal_env, engine)
    order_id = done["order_id"]
    await order_with_shipments(api, order_id, 1)
    client = await signed_in(api_app, role_keys["support"])
    page_path = f"/console/orders/{order_id}"

    blank = await act(client, f"{page_path}/cancel", page_path, reason="  ")
    assert "give a reason" in blank.text

    async def cancel_once_ready():  # shipment rows exist a moment before their workflows start
        answer = await act(client, f"{page_path}/cancel", page_path, reason="customer <b>asked</b>")
        return None if "[order_not_ready]" in flash_of(answer) else answer

    cancelled = await eventually(cancel_once_ready, what="the order to be ready to cancel")
    assert cancelled.status_code == 200
    assert flash_of(cancelled) == "Order cancelled (status: cancelled).", flash_of(cancelled)
    assert '<span class="badge bad">cancelled</span>' in cancelled.text
    assert "customer &lt;b&gt;asked&lt;/b&gt;" in cancelled.text and "<b>asked" not in cancelled.text  # escaped
    assert ("order.cancel", "support") in await audit_actions(engine, order_id)
    assert (await api.get(f"/orders/{order_id}")).json()["status"] == "cancelled"


async def test_refunds_in_major_units_with_readable_refusals(api_app, api, role_keys, temporal_env, engine):
    done, _ = await delivered_order(api, temporal_env, engine)
    order_id, page_path = done["order_id"], f"/console/orders/{done['order_id']}"
    total = (await api.get(f"/orders/{order_id}")).json()["totals"]["total"]
    client = await signed_in(api_app, role_keys["support"])
    refund = f"{page_path}/refund"

    typo = await act(client, refund, page_path, mode="amount", amount="5.255", reason="late")
    assert "Refund not sent: USD amounts have at most 2 decimals" in typo.text
    words = await act(client, refund, page_path, mode="amount", amount="five", reason="late")
    assert "is not an amount like 12.50" in words.text

    page = await client.get(page_path)
    form_key = re.search(r'name="refund_key" value="([^"]+)"', page.text).group(1)
    fields = {"csrf": csrf_in(page.text), "mode": "amount", "amount": "5.25", "reason": "late delivery",
              "refund_key": form_key}
    done_page = await follow(client, await client.post(refund, data=fields))
    assert "Refunded 5.25 USD. Order status: partially_refunded." in done_page.text
    # The same form sent twice (a double click, a reload) refunds once.
    again = await follow(client, await client.post(refund, data=fields))
    assert "already sent: nothing new was refunded" in again.text
    async with engine.connect() as conn:
        assert (await ledger.totals(conn, done["checkout_id"])).refunded == 525

    too_much = await act(client, refund, page_path, mode="amount", amount=f"{total / 100 + 1:.2f}", reason="all")
    assert too_much.status_code == 200
    assert "Refund refused: that is more than can still be refunded" in too_much.text
    assert "[refund_exceeds_captured]" in too_much.text

    rest = await act(client, refund, page_path, mode="full", reason="goodwill")
    assert f"Refunded {(total - 525) // 100}.{(total - 525) % 100:02d} USD. Order status: refunded." in rest.text
    assert [a for a, _ in await audit_actions(engine, order_id)].count("order.refund") == 2
    refunds = (await api.get(f"/orders/{order_id}/refunds")).json()
    assert sorted(r["amount"] for r in refunds) == sorted([525, total - 525])


async def test_csrf_is_checked_on_every_action(api_app, role_keys, api, temporal_env, engine):
    done, _ = await placed_order(api, temporal_env, engine)
    order_id = done["order_id"]
    client = await signed_in(api_app, role_keys["support"])
    other = await signed_in(api_app, role_keys["ops"])
    foreign_token = csrf_in((await other.get("/console")).text)
    for data in ({"reason": "x"}, {"reason": "x", "csrf": "forged"}, {"reason": "x", "csrf": foreign_token}):
        refused = await client.post(f"/console/orders/{order_id}/cancel", data=data)
        assert refused.status_code == 403 and "CSRF" in refused.text
        refused = await client.post(f"/console/orders/{order_id}/refund", data={**data, "mode": "full"})
        assert refused.status_code == 403
    page = await client.get(f"/console/orders/{order_id}")
    oversized = await client.post(f"/console/orders/{order_id}/cancel", data={"csrf": csrf_in(page.text),
                                                                             "reason": "x" * 5000})
    assert oversized.status_code == 422 and "text/html" in oversized.headers["content-type"]
    assert (await api.get(f"/orders/{order_id}")).json()["status"] != "cancelled"
    assert await audit_actions(engine, order_id) == []


async def test_flash_messages_cannot_be_forged_by_a_link(api_app, role_keys, api, temporal_env, engine):
    done, _ = await placed_order(api, temporal_env, engine)
    client = await signed_in(api_app, role_keys["support"])
    page = await client.get(f"/console/orders/{done['order_id']}",
                            params={"ok": "Call +1 555 0100 to verify your key", "sig": "0" * 32})
    assert page.status_code == 200 and "555 0100" not in page.text


async def test_returns_are_approved_from_the_order_page(api_app, api, role_keys, temporal_env, engine):
    done, (sku,) = await delivered_order(api, temporal_env, engine)
    order_id, page_path = done["order_id"], f"/console/orders/{done['order_id']}"
    requested = await api.post(f"/orders/{order_id}/returns",
                               json={"lines": [{"sku": sku, "quantity": 1, "reason": "defective"}]})
    assert requested.status_code == 201, requested.text
    rma_id = requested.json()["id"]
    client = await signed_in(api_app, role_keys["support"])
    page = await client.get(page_path)
    assert f'action="/console/returns/{rma_id}/approve"' in page.text

    approved = await act(client, f"/console/returns/{rma_id}/approve", page_path, note="photo shows the crack")
    assert f"Return {rma_id} approved." in approved.text
    assert ("return.approve", "support") in await audit_actions(engine, order_id)
    twice = await act(client, f"/console/returns/{rma_id}/reject", page_path, note="changed my mind")
    assert "Return not rejected:" in twice.text and "[return_state_conflict]" in twice.text
