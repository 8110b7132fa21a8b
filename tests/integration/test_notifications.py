"""Customer emails against real PostgreSQL: outbox files, SMTP to a local server, once per (order, kind)."""

import socket
import uuid
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import delete, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notifications import NotificationActivities
from adapters.local.email import OutboxEmailSender
from adapters.ports import ProviderUnavailable
from adapters.smtp_email import SmtpEmailSender
from db.tables import notifications, shipment_items, shipments
from models.errors import DomainError
from models.notifications import EmailMessage, message_id
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import cart_with, checkout_to_end
from tests.integration.checkout_helpers import eventually

SENDER = "orders@shop.example"


@pytest.fixture(scope="module")
async def warehouse(engine):
    return await make_location(engine)


@pytest.fixture(scope="module")
async def order(api, temporal_env, engine, warehouse) -> dict:
    """One real order through the checkout API: 2 × 25.00 USD, 3.63 tax, 5.99 shipping."""
    sku = await make_sku(engine, price=2500, stock={warehouse: 10}, weight_grams=300)
    result = await checkout_to_end(api, temporal_env.client, await cart_with(api, {sku: 2}))
    assert result["status"] == "completed", result
    return (await api.get(f"/orders/{result['order_id']}")).json()


async def add_shipment(engine, order: dict, location_id: str, tracking_code: str | None = "1Z999AA10123456784") -> str:
    shipment_id = f"shp_{uuid.uuid4().hex[:12]}"
    line = order["lines"][0]
    async with engine.begin() as conn:
        await conn.execute(shipments.insert().values(
            id=shipment_id, order_id=order["id"], location_id=location_id, status="shipped",
            workflow_id=f"shipment-{shipment_id}", carrier="UPS", service="ground", tracking_code=tracking_code))
        await conn.execute(shipment_items.insert().values(shipment_id=shipment_id, sku=line["sku"], quantity=1))
    return shipment_id


async def _confirmation_recorded(engine, order_id: str) -> bool:
    return "order_confirmation" in await recorded(engine, order_id)


async def recorded(engine, order_id: str) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(notifications).where(notifications.c.order_id == order_id))
        return {row.kind: row.message_id for row in rows}


def parse(path):
    return message_from_bytes(path.read_bytes(), policy=policy.default)


async def test_confirmation_goes_to_the_outbox_once(engine, order, tmp_path):
    # The order's own fulfillment workflow sends its confirmation too; let it, then start clean.
    assert await eventually(lambda: _confirmation_recorded(engine, order["id"]))
    async with engine.begin() as conn:
        await conn.execute(delete(notifications).where(notifications.c.order_id == order["id"]))
    outbox = OutboxEmailSender(tmp_path, SENDER)
    acts, env = NotificationActivities(engine, outbox), ActivityEnvironment()

    assert await env.run(acts.send_order_confirmation, order["id"]) is True
    assert await env.run(acts.send_order_confirmation, order["id"]) is False

    (eml,) = tmp_path.glob("*.eml")
    sent = parse(eml)
    assert sent["To"] == "ada@example.com" and sent["From"] == SENDER
    assert sent["Subject"] == f"Order {order['id']} confirmed"
    assert b"\r\n" in eml.read_bytes(), "RFC 5322 line ends"
    body = sent.get_body(("plain",)).get_content()
    assert "Total: 59.62 USD" in body and "Tax: 3.63 USD" in body and "Shipping: 5.99 USD" in body
    assert (await recorded(engine, order["id"]))["order_confirmation"] == sent["Message-ID"]


async def test_shipped_and_delivered_are_sent_once_per_shipment(engine, order, warehouse, tmp_path):
    acts, env = NotificationActivities(engine, OutboxEmailSender(tmp_path, SENDER)), ActivityEnvironment()
    first, second = await add_shipment(engine, order, warehouse), await add_shipment(engine, order, warehouse, "1Z2")

    assert await env.run(acts.send_shipped, order["id"], first) is True
    assert await env.run(acts.send_shipped, order["id"], second) is True
    assert await env.run(acts.send_shipped, order["id"], first) is False
    assert await env.run(acts.send_delivered, order["id"], first) is True

    kinds = await recorded(engine, order["id"])
    assert {f"shipped:{first}", f"shipped:{second}", f"delivered:{first}"} <= kinds.keys()
    shipped = parse(OutboxEmailSender(tmp_path).path_for(f"{order['id']}:shipped:{first}"))
    text = shipped.get_body(("plain",)).get_content()
    assert "Tracking code: 1Z999AA10123456784" in text
    assert "https://www.ups.com/track?tracknum=1Z999AA10123456784" in text
    assert f"1 × {order['lines'][0]['title']}" in text


async def test_business_failures_are_not_retried(engine, order, warehouse, tmp_path):
    acts, env = NotificationActivities(engine, OutboxEmailSender(tmp_path)), ActivityEnvironment()
    unlabelled = await add_shipment(engine, order, warehouse, tracking_code=None)

    with pytest.raises(ApplicationError) as no_label:
        await env.run(acts.send_shipped, order["id"], unlabelled)
    with pytest.raises(ApplicationError) as no_order:
        await env.run(acts.send_order_confirmation, "ord_doesnotexist")

    assert (no_label.value.type, no_label.value.non_retryable) == ("shipment_not_shipped", True)
    assert (no_order.value.type, no_order.value.non_retryable) == ("order_not_found", True)
    assert list(tmp_path.glob("*.eml")) == []


async def test_outbox_resend_overwrites_nothing_and_returns_the_same_id(tmp_path):
    outbox = OutboxEmailSender(tmp_path / "nested" / "outbox", SENDER)
    message = EmailMessage(to="ada@example.com", subject="First", text="one", idempotency_key="ord_x:a/b")
    first_id = await outbox.send(message)
    again_id = await outbox.send(message.model_copy(update={"subject": "Changed"}))

    (eml,) = (tmp_path / "nested" / "outbox").iterdir()
    assert eml.name == "ord_x%3Aa%2Fb.eml"
    assert first_id == again_id == parse(eml)["Message-ID"]
    assert parse(eml)["Subject"] == "First"


class Inbox:
    """aiosmtpd handler: keeps what it accepts and refuses any recipient at nobody@."""

    def __init__(self):
        self.received: list = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def test_smtp_delivers_once_with_the_key_derived_message_id(engine, order, smtp_server):
    inbox, port = smtp_server
    smtp = SmtpEmailSender("127.0.0.1", port, None, None, use_tls=False, sender=SENDER)
    acts, env = NotificationActivities(engine, smtp), ActivityEnvironment()
    async with engine.begin() as conn:  # the outbox test may have sent this order's confirmation
        await conn.execute(notifications.delete().where(notifications.c.order_id == order["id"]))

    assert await env.run(acts.send_order_confirmation, order["id"]) is True
    assert await env.run(acts.send_order_confirmation, order["id"]) is False

    ((recipients, sent),) = inbox.received
    assert recipients == ["ada@example.com"]
    assert sent["X-Orderflow-Idempotency-Key"] == f"{order['id']}:order_confirmation"
    assert (await recorded(engine, order["id"]))["order_confirmation"] == sent["Message-ID"]
    assert sent["Message-ID"] == message_id(f"{order['id']}:order_confirmation", SENDER), "same id as the outbox"


async def test_smtp_refusal_is_a_business_error_and_a_dead_server_is_transient(smtp_server):
    _, port = smtp_server
    message = EmailMessage(to="nobody@example.com", subject="Hi", text="x", idempotency_key="k1")

    with pytest.raises(DomainError) as refused:
        await SmtpEmailSender("127.0.0.1", port, None, None, False, SENDER).send(message)
    with pytest.raises(ProviderUnavailable):
        await SmtpEmailSender("127.0.0.1", free_port(), None, None, False, SENDER, timeout=2).send(message)

    assert refused.value.code == "email_undeliverable"
