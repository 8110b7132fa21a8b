"""Abandoned-cart reminders at 1 h, 24 h and 72 h, on the time-skipping server (through the real API)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import update
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError

from adapters.factory import Adapters
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from api.app import create_app
from config import DEV_UNSUBSCRIBE_SECRET, Settings
from db import cart_recovery as reminder_store
from db import reports
from db.tables import carts
from models.notifications import EmailMessage, message_id
from models.unsubscribe import UnsubscribeLinks
from tests.factories import make_api_key, make_location, make_sku
from tests.helpers import eventually
from tests.integration.checkout_helpers import checkout_body, start_checkout
from tests.integration.test_fraud_review import _record
from tests.workflows.test_fulfillment_timeouts import finished
from worker import build_worker


class RecordingSender:
    """The email port, keeping what it was asked to send."""

    name = "recording"

    def __init__(self):
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> str:
        self.sent.append(message)
        return message_id(message.idempotency_key, "shop@example.com")


@pytest.fixture
async def stack(time_env, engine, database_url, tmp_path):
    sender = RecordingSender()
    queue = f"ts-cart-{uuid.uuid4().hex[:8]}"
    adapters = Adapters(payment=LocalPaymentGateway(), tax=LocalTaxCalculator(), shipping=LocalShippingCarrier(),
                        email=sender)
    app = create_app(Settings(environment="test", database_url=database_url, task_queue=queue),
                     engine=engine, temporal=time_env.client)
    api = AsyncClient(transport=ASGITransport(app=app), base_url="http://orderflow.test",
                      headers={"Authorization": f"Bearer {await make_api_key(engine, 'admin')}"})
    async with build_worker(time_env.client, queue, engine, adapters), api:
        yield api, sender


async def _cart(api, engine, *, email: str | None = "ada@example.com") -> str:
    sku = await make_sku(engine, price=1500, stock={await make_location(engine): 5})
    created = await api.post("/carts", json={"currency": "USD", **({"email": email} if email else {})})
    cart_id = created.json()["id"]
    assert (await api.post(f"/carts/{cart_id}/lines", json={"sku": sku, "quantity": 2})).status_code == 201
    return cart_id


async def _sent(sender: RecordingSender, count: int, real_seconds: float = 60.0) -> list[EmailMessage]:
    """Wait (real time, server clock held) until ``count`` reminders went out."""
    await eventually(lambda: len(sender.sent) >= count, real_seconds, what=f"{count} reminders to go out")
    return sender.sent


async def _running(client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
        return True
    except RPCError:
        return False


async def _waiting_on_timer(client, workflow_id: str, number: int) -> tuple[int, int] | None:
    """(timers started, timers fired) once the workflow has started its ``number``-th timer."""
    started = fired = 0
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        started += event.HasField("timer_started_event_attributes")
        fired += event.HasField("timer_fired_event_attributes")
    return (started, fired) if started >= number else None


async def test_reminders_go_out_at_1_24_and_72_hours(stack, time_env, engine):
    api, sender = stack
    cart_id = await _cart(api, engine)
    elapsed = timedelta(0)
    for due, count in ((timedelta(hours=1), 1), (timedelta(hours=24), 2), (timedelta(hours=72), 3)):
        await time_env.sleep(due - timedelta(minutes=1) - elapsed)
        # Once the workflow waits on reminder `count`'s timer, that timer must not have fired yet.
        _, fired = await eventually(lambda: _waiting_on_timer(time_env.client, f"cart-{cart_id}", count))
        assert fired == count - 1, f"reminder {count} was due before {due}"
        assert len(sender.sent) == count - 1, f"reminder {count} went out before {due}"
        await time_env.sleep(timedelta(minutes=2))
        await _sent(sender, count)
        elapsed = due + timedelta(minutes=1)

    assert await finished(time_env, f"cart-{cart_id}") == "abandoned"
    assert [m.idempotency_key for m in sender.sent] == [f"{cart_id}:cart_reminder:{n}" for n in (1, 2, 3)]
    assert {m.to for m in sender.sent} == {"ada@example.com"}
    assert sender.sent[-1].subject == "Last reminder: your cart"
    async with engine.connect() as conn:
        assert [r.reminder for r in await reminder_store.sent(conn, cart_id)] == [1, 2, 3]


async def test_checkout_after_the_first_reminder_stops_the_rest_and_counts_as_recovered(stack, time_env, engine):
    api, sender = stack
    cart_id = await _cart(api, engine)
    await time_env.sleep(timedelta(hours=1, minutes=1))
    await _sent(sender, 1)
    now = datetime.now(UTC)
    async with engine.connect() as conn:
        before = await reports.cart_recovery(conn, now - timedelta(days=1), now + timedelta(days=1))

    started = await start_checkout(api, checkout_body(cart_id))  # the API signals the reminder workflow
    assert started.status_code == 202, started.text
    assert await finished(time_env, f"cart-{cart_id}") == "recovered"
    result = await finished(time_env, f"checkout-{started.json()['checkout_id']}")
    assert result["status"] == "completed", result

    await time_env.sleep(timedelta(hours=100))  # the reminder workflow has ended: nothing more can go out
    assert [m.idempotency_key for m in sender.sent if ":cart_reminder:" in m.idempotency_key] == [
        f"{cart_id}:cart_reminder:1"]  # (the order confirmation went out too)
    async with engine.connect() as conn:
        after = await reports.cart_recovery(conn, now - timedelta(days=1), now + timedelta(days=1))
    assert (after[0] - before[0], after[1] - before[1]) == (0, 1)  # already reminded, now recovered
    await _record("abandoned_cart_recovered", time_env.client.get_workflow_handle(f"cart-{cart_id}"))


async def test_cart_checked_out_without_the_signal_gets_no_reminder(stack, time_env, engine):
    api, sender = stack
    cart_id = await _cart(api, engine, email=None)
    assert not await _running(time_env.client, f"cart-{cart_id}")  # no email, no reminders

    assert (await api.put(f"/carts/{cart_id}/email", json={"email": "late@example.com"})).status_code == 200
    assert await _running(time_env.client, f"cart-{cart_id}")
    async with engine.begin() as conn:  # as if the checkout's signal had been lost
        await conn.execute(update(carts).where(carts.c.id == cart_id).values(status="checked_out"))

    assert await finished(time_env, f"cart-{cart_id}") == "checked_out"
    assert sender.sent == []
    refused = await api.put(f"/carts/{cart_id}/email", json={"email": "x@example.com"})
    assert refused.status_code == 409


async def test_unsubscribed_address_gets_no_reminder_and_the_series_still_ends(stack, time_env, engine):
    api, sender = stack
    cart_id = await _cart(api, engine, email="Quiet@Example.com")
    link = UnsubscribeLinks(DEV_UNSUBSCRIBE_SECRET, "http://unused").url("quiet@example.com")  # the worker's default
    unsubscribed = await api.post(link.removeprefix("http://unused"), data={"List-Unsubscribe": "One-Click"})
    assert unsubscribed.status_code == 200, unsubscribed.text

    assert await finished(time_env, f"cart-{cart_id}") == "abandoned"
    assert sender.sent == []
    async with engine.connect() as conn:
        assert await reminder_store.sent(conn, cart_id) == []
    history = await time_env.client.get_workflow_handle(f"cart-{cart_id}").fetch_history()
    completed = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED]
    assert len(completed) == 3  # each reminder was due, asked, and answered "suppressed"
