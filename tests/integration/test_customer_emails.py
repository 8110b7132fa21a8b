"""Emails after the order (cancelled, refunded, return approved / refunded) sent by the workflows, once, skipping
suppressed addresses; and the signed links in the confirmation and the cart reminders."""

from email import message_from_bytes, policy

from sqlalchemy import delete, select
from temporalio.testing import ActivityEnvironment

from activities.cart_recovery import CartRecoveryActivities
from activities.notifications import NotificationActivities
from adapters.local.email import OutboxEmailSender
from db import suppressions
from db.tables import email_suppressions, notifications
from models.customer_tokens import CustomerTokens, StorefrontLinks
from models.unsubscribe import UnsubscribeLinks
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import (
    delivered_order, eventually, order_with_shipments, placed_order, refund, workflow_result,
)

TOKENS = CustomerTokens("a-test-secret-of-enough-length-0123456789")
LINKS = StorefrontLinks(TOKENS, "https://shop.example")


async def sent(engine, order_id: str) -> dict[str, str]:
    """kind -> subject of the order's recorded emails."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(notifications).where(notifications.c.order_id == order_id))
        return {row.kind: row.subject for row in rows}


def only_email(outbox):
    (eml,) = outbox.glob("*.eml")
    return message_from_bytes(eml.read_bytes(), policy=policy.default)


def bodies(message) -> tuple[str, str]:
    return (message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


async def cancel(api, order_id: str):
    async def cancelled():
        # 409 order_not_ready while the order workflow is still starting its shipments: retry, as a client would.
        response = await api.post(f"/orders/{order_id}/cancel", json={"reason": "changed mind"})
        return None if response.json().get("error", {}).get("code") == "order_not_ready" else response

    response = await eventually(cancelled)
    assert response is not None and response.status_code == 200, response and response.text


async def test_a_cancelled_order_is_emailed_once(api, temporal_env, engine):
    done, _ = await placed_order(api, temporal_env, engine)
    order_id = done["order_id"]
    await order_with_shipments(api, order_id, 1)

    await cancel(api, order_id)
    assert await workflow_result(temporal_env.client, f"order-{order_id}") == "cancelled"

    assert (await sent(engine, order_id))["order_cancelled"] == f"Order {order_id} cancelled"


async def test_a_refund_is_emailed_with_its_amount(api, temporal_env, engine):
    done, _ = await delivered_order(api, temporal_env, engine, {1000: 1})
    order_id = done["order_id"]

    issued = await refund(api, order_id, {"amount": 250, "reason": "scratched"})

    assert issued.status_code == 200, issued.text
    kind = f"refund:{issued.json()['refund_id']}"  # sent after the answer: support does not wait for mail
    assert await eventually(lambda: _has(engine, order_id, kind)) == f"Refund of 2.50 USD for order {order_id}"


async def test_return_approval_and_refund_are_emailed(api, temporal_env, engine):
    done, (sku,) = await delivered_order(api, temporal_env, engine, {1500: 1})
    order_id = done["order_id"]
    created = await api.post(f"/orders/{order_id}/returns",
                             json={"lines": [{"sku": sku, "quantity": 1, "reason": "defective"}]})
    rma_id = created.json()["id"]

    assert (await api.post(f"/returns/{rma_id}/approve", json={"note": "ok"})).status_code == 200
    approved = await eventually(lambda: _has(engine, order_id, f"return_approved:{rma_id}"))
    assert approved == f"Return {rma_id} approved: your return label"
    assert (await api.post(f"/returns/{rma_id}/receive")).status_code == 200
    await eventually(lambda: _status(api, rma_id, "received"))
    inspected = await api.post(f"/returns/{rma_id}/inspect", json={"units": [
        {"sku": sku, "quantity": 1, "disposition": "scrap"}]})
    assert inspected.status_code == 200, inspected.text
    assert await workflow_result(temporal_env.client, f"return-{rma_id}") == "refunded"

    refunded = (await api.get(f"/orders/{order_id}/refunds")).json()[0]["amount"]
    assert (await sent(engine, order_id))[f"return_refunded:{rma_id}"] == \
        f"Return {rma_id} received: {refunded // 100}.{refunded % 100:02d} USD refunded"


async def _has(engine, order_id: str, kind: str) -> str | None:
    return (await sent(engine, order_id)).get(kind)


async def _status(api, rma_id: str, expected: str) -> bool:
    return (await api.get(f"/returns/{rma_id}")).json()["status"] == expected


async def test_emails_after_the_order_skip_suppressed_addresses_and_go_once(api, temporal_env, engine, tmp_path):
    done, _ = await placed_order(api, temporal_env, engine)
    order_id = done["order_id"]
    acts, env = NotificationActivities(engine, OutboxEmailSender(tmp_path), LINKS), ActivityEnvironment()
    async with engine.begin() as conn:
        await suppressions.suppress(conn, "ada@example.com", source="unsubscribe_page")
    try:
        assert await env.run(acts.send_order_cancelled, order_id) == "suppressed"
        assert not list(tmp_path.glob("*.eml"))
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(email_suppressions))

    assert await env.run(acts.send_order_cancelled, order_id) == "sent"
    assert await env.run(acts.send_order_cancelled, order_id) == "already_sent"
    text, html = bodies(only_email(tmp_path))
    assert "Nothing was charged" in text and LINKS.order_url(order_id) in text
    assert LINKS.order_url(order_id) in html


async def test_confirmation_links_to_the_order_with_the_guest_token(api, temporal_env, engine, tmp_path):
    done, _ = await placed_order(api, temporal_env, engine)
    order_id = done["order_id"]
    assert await eventually(lambda: _has(engine, order_id, "order_confirmation"))
    async with engine.begin() as conn:  # the order's own workflow sent one already: start clean
        await conn.execute(delete(notifications).where(notifications.c.order_id == order_id))
    acts = NotificationActivities(engine, OutboxEmailSender(tmp_path), LINKS)

    assert await ActivityEnvironment().run(acts.send_order_confirmation, order_id) is True

    text, html = bodies(only_email(tmp_path))
    link = next(word for word in text.split() if word.startswith("https://shop.example/orders/"))
    assert link == f"https://shop.example/orders/{order_id}?order_token={TOKENS.order_token(order_id)}"
    assert TOKENS.proves_order(order_id, link.rsplit("=", 1)[1])
    assert link in html


async def test_cart_reminder_links_back_to_the_cart_with_its_token(api, engine, tmp_path):
    location = await make_location(engine)
    sku = await make_sku(engine, stock={location: 3})
    cart = (await api.post("/carts", json={"email": "shopper@example.com"})).json()
    await api.post(f"/carts/{cart['id']}/lines", json={"sku": sku, "quantity": 1})
    acts = CartRecoveryActivities(engine, OutboxEmailSender(tmp_path),
                                  UnsubscribeLinks("an-unsubscribe-secret-0123456789abcdef", "https://api.example"),
                                  LINKS)

    assert await ActivityEnvironment().run(acts.send_cart_reminder, cart["id"], 1, False) == "sent"

    text, html = bodies(only_email(tmp_path))
    link = f"https://shop.example/carts/{cart['id']}?cart_token={TOKENS.cart_token(cart['id'])}"
    assert f"Back to your cart: {link}" in text
    assert link in html
