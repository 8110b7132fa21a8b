"""Subscriptions over months and years of renewals, dunning and pauses, run in seconds on the time-skipping server."""

import uuid
from datetime import date, timedelta

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError

from activities.subscriptions import SubscriptionActivities
from adapters.factory import Adapters
from adapters.local.email import OutboxEmailSender
from adapters.local.payment import LocalPaymentGateway
from adapters.local.shipping import LocalShippingCarrier
from adapters.local.tax import LocalTaxCalculator
from api.app import create_app
from config import Settings
from db import inventory
from db import subscriptions as subscription_store
from db.tables import orders, payment_operations, subscription_orders
from models.commerce import OrderDraft
from models.errors import DomainError
from models.subscriptions import RenewalOrder, add_months
from tests.factories import make_api_key, make_location, make_sku
from tests.history_helpers import replays_and_is_kept
from tests.integration.checkout_helpers import ADDRESS, atp
from worker import build_worker
from workflows.subscription import SubscriptionWorkflow
from workflows.search_attributes import SUBSCRIPTION_ALERT, SUBSCRIPTION_STATUS

DAY = timedelta(days=1)


@pytest.fixture
async def stack(time_env, engine, database_url, tmp_path_factory):
    """API + worker on the time-skipping server, each test on its own task queue and outbox."""

    async def start(payment: LocalPaymentGateway | None = None, **settings):
        queue = f"sub-{uuid.uuid4().hex[:8]}"
        outbox = tmp_path_factory.mktemp("outbox")
        adapters = Adapters(payment=payment or LocalPaymentGateway(), tax=LocalTaxCalculator(),
                            shipping=LocalShippingCarrier(), email=OutboxEmailSender(outbox))
        worker = build_worker(time_env.client, queue, engine, adapters)
        app = create_app(Settings(environment="test", database_url=database_url, task_queue=queue, **settings),
                         engine=engine, temporal=time_env.client)
        app.state.payment_gateway = adapters.payment
        api = AsyncClient(transport=ASGITransport(app=app), base_url="http://orderflow.test",
                          headers={"Authorization": f"Bearer {await make_api_key(engine, 'admin')}"})
        return worker, api, outbox

    return start


async def subscribe(api, time_env, sku: str, *, interval="monthly", n=None, quantity=2,
                    payment_method="pm_card_visa", discount_bp=1000) -> tuple[str, date]:
    """A subscription whose first renewal is today (server time): returns its id and that date."""
    today = (await time_env.get_current_time()).date()
    plan = {"plan_id": await plan_with(api, discount_bp)} if discount_bp else {}
    created = await api.post("/subscriptions", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
        "email": "ada@example.com", "payment_method": payment_method, "shipping_address": ADDRESS,
        "lines": [{"sku": sku, "quantity": quantity}], "interval": interval, "n": n, "anchor_date": today.isoformat(),
        **plan,
    })
    assert created.status_code == 201, created.text
    return created.json()["id"], today


async def plan_with(api, discount_bp: int) -> str:
    """A plan created as an admin would (the api client holds an admin key)."""
    created = await api.post("/admin/catalog/subscription-plans", json={
        "name": f"Plan {uuid.uuid4().hex[:8]}", "intervals": ["weekly", "monthly", "every_n_days"],
        "discount_bp": discount_bp})
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def until(time_env, moment: date, hours: int = 12) -> None:
    """Let server time run (skipping idle stretches) to ``hours`` past midnight of ``moment``."""
    now = await time_env.get_current_time()
    target = now.replace(year=moment.year, month=moment.month, day=moment.day, hour=hours, minute=0, second=0)
    await time_env.sleep(target - now)


async def renewals(engine, subscription_id: str) -> list:
    async with engine.connect() as conn:
        return list(await conn.execute(
            select(subscription_orders.c.cycle, subscription_orders.c.renewal_date, orders.c.id, orders.c.total,
                   orders.c.payment_ref, orders.c.status)
            .join(orders, orders.c.id == subscription_orders.c.order_id)
            .where(subscription_orders.c.subscription_id == subscription_id).order_by(subscription_orders.c.cycle)))


async def charges(engine, subscription_id: str) -> list:
    async with engine.connect() as conn:
        return list(await conn.execute(
            select(payment_operations.c.idempotency_key, payment_operations.c.status, payment_operations.c.amount)
            .where(payment_operations.c.payment_ref.like(f"{subscription_id}:%"),
                   payment_operations.c.kind == "charge").order_by(payment_operations.c.created_at)))


async def finished(env, workflow_id: str):
    async with env.time_skipping_unlocked():
        return await env.client.get_workflow_handle(workflow_id).result()


async def failing_renewal(api, time_env, engine, payment_method="pm_card_chargeDeclined") -> tuple[str, str]:
    """A subscription whose first renewal charge has just failed once: (sku, subscription id)."""
    sku = await make_sku(engine, stock={await make_location(engine): 10})
    subscription_id, _ = await subscribe(api, time_env, sku, payment_method=payment_method)
    await time_env.sleep(timedelta(hours=2))
    assert (await api.get(f"/subscriptions/{subscription_id}")).json()["dunning"]["failures"] == 1
    return sku, subscription_id


async def new_card(api, time_env, subscription_id: str) -> None:
    """The customer saves a working card; the failed renewal is retried at once."""
    updated = await api.post(f"/subscriptions/{subscription_id}/payment-method", json={"payment_method": "pm_card_visa"})
    assert updated.status_code == 200, updated.text
    await time_env.sleep(timedelta(hours=1))


async def test_a_year_of_monthly_renewals_places_twelve_orders(stack, time_env, engine):
    worker, api, _ = await stack()
    async with worker, api:
        sku = await make_sku(engine, price=2500, stock={await make_location(engine): 100})
        subscription_id, first = await subscribe(api, time_env, sku)

        await until(time_env, add_months(first, 11))

        placed = await renewals(engine, subscription_id)
        assert [r.cycle for r in placed] == list(range(1, 13))
        assert [r.renewal_date for r in placed] == [add_months(first, k) for k in range(12)]
        assert len({r.id for r in placed}) == 12, "one order per cycle, no duplicates"
        assert {r.status for r in placed} == {"captured"}
        assert {r.payment_ref for r in placed} == {f"{subscription_id}:cycle-{k}" for k in range(1, 13)}
        # 2 × 25.00 − 10 % = 45.00, plus 7.25 % CA tax (3.26) and standard shipping (4.99).
        assert {r.total for r in placed} == {4500 + 326 + 499}
        paid = await charges(engine, subscription_id)
        assert [(p.idempotency_key, p.status) for p in paid] == [
            (f"{subscription_id}:cycle-{k}:charge", "succeeded") for k in range(1, 13)]
        assert await atp(api, sku) == 100 - 24

        body = (await api.get(f"/subscriptions/{subscription_id}")).json()
        assert body["status"] == "active" and len(body["renewals"]) == 12
        assert body["next_renewal_at"].startswith(add_months(first, 12).isoformat())
        handle = time_env.client.get_workflow_handle(f"subscription-{subscription_id}")
        description = await handle.describe()
        assert description.run_id != description.raw_description.workflow_execution_info.first_run_id
        assert description.typed_search_attributes.get(SUBSCRIPTION_STATUS) == "active"
        assert len((await handle.fetch_history()).events) < 60, "continue-as-new keeps each run short"


async def test_declined_renewal_is_retried_on_schedule_then_cancelled(stack, time_env, engine):
    worker, api, outbox = await stack()
    async with worker, api:
        sku = await make_sku(engine, stock={await make_location(engine): 10})
        subscription_id, first = await subscribe(api, time_env, sku, payment_method="pm_card_chargeDeclined")

        assert await finished(time_env, f"subscription-{subscription_id}") == "cancelled"

        body = (await api.get(f"/subscriptions/{subscription_id}")).json()
        assert body["status"] == "cancelled" and body["cancel_reason"] == "payment_failed"
        failed = [e for e in body["events"] if e["type"] == "payment_failed"]
        assert [e["data"]["attempt"] for e in failed] == [1, 2, 3, 4]
        assert [e["data"]["next_retry_at"][:10] if e["data"]["next_retry_at"] else None for e in failed] == [
            (first + DAY * days).isoformat() for days in (1, 3, 7)] + [None]
        assert failed[-1]["data"]["status"] == "past_due"
        assert body["events"][-1]["type"] == "cancelled"
        assert len(list(outbox.glob("*payment_failed*.eml"))) == 4, "one email per failed attempt"
        assert [p.status for p in await charges(engine, subscription_id)] == ["failed"] * 4
        assert body["renewals"] == [] and await atp(api, sku) == 10, "every hold was released"


async def test_a_new_card_retries_a_declined_renewal_at_once(stack, time_env, engine):
    worker, api, _ = await stack()
    async with worker, api:
        _, subscription_id = await failing_renewal(api, time_env, engine)
        await new_card(api, time_env, subscription_id)

        body = (await api.get(f"/subscriptions/{subscription_id}")).json()
        assert body["status"] == "active" and body["dunning"] is None
        assert [r["cycle"] for r in body["renewals"]] == [1]
        assert [(p.idempotency_key, p.status) for p in await charges(engine, subscription_id)] == [
            (f"{subscription_id}:cycle-1:charge", "failed"), (f"{subscription_id}:cycle-1:charge-2", "succeeded")]


async def test_pause_across_a_renewal_skips_it_and_resume_continues_on_schedule(stack, time_env, engine):
    worker, api, _ = await stack()
    async with worker, api:
        sku = await make_sku(engine, stock={await make_location(engine): 50})
        subscription_id, first = await subscribe(api, time_env, sku, interval="weekly")
        await time_env.sleep(timedelta(hours=1))
        paused = await api.post(f"/subscriptions/{subscription_id}/pause", json={})
        assert paused.status_code == 200 and paused.json()["status"] == "paused", paused.text
        assert paused.json()["next_renewal_at"] is None

        await until(time_env, first + 10 * DAY)  # the renewal of day 7 falls inside the pause
        assert [r.cycle for r in await renewals(engine, subscription_id)] == [1]
        resumed = await api.post(f"/subscriptions/{subscription_id}/resume")
        assert resumed.json()["next_renewal_at"].startswith((first + 14 * DAY).isoformat())

        await until(time_env, first + 15 * DAY)
        assert [r.renewal_date for r in await renewals(engine, subscription_id)] == [first, first + 14 * DAY]

        # Paused until a date: renewals before it are skipped, it resumes by itself.
        await api.post(f"/subscriptions/{subscription_id}/pause", json={"until": (first + 23 * DAY).isoformat()})
        await until(time_env, first + 29 * DAY)
        assert [r.renewal_date for r in await renewals(engine, subscription_id)] == [
            first, first + 14 * DAY, first + 28 * DAY]
        events = [e["type"] for e in (await api.get(f"/subscriptions/{subscription_id}")).json()["events"]]
        assert events.count("resumed") == 2


async def test_skip_next_renewal(stack, time_env, engine):
    worker, api, _ = await stack()
    async with worker, api:
        sku = await make_sku(engine, stock={await make_location(engine): 50})
        subscription_id, first = await subscribe(api, time_env, sku, interval="every_n_days", n=10)
        await time_env.sleep(timedelta(hours=1))
        skipped = await api.post(f"/subscriptions/{subscription_id}/skip")
        assert skipped.json()["skip_next"] is True

        await until(time_env, first + 21 * DAY)
        assert [r.renewal_date for r in await renewals(engine, subscription_id)] == [first, first + 20 * DAY]
        assert [r.cycle for r in await renewals(engine, subscription_id)] == [1, 3]
        body = (await api.get(f"/subscriptions/{subscription_id}")).json()
        assert "renewal_skipped" in [e["type"] for e in body["events"]] and body["skip_next"] is False


async def test_cancel_at_period_end_renews_no_more(stack, time_env, engine):
    worker, api, _ = await stack()
    async with worker, api:
        sku = await make_sku(engine, stock={await make_location(engine): 50})
        subscription_id, first = await subscribe(api, time_env, sku)
        await time_env.sleep(timedelta(hours=1))
        cancelling = await api.post(f"/subscriptions/{subscription_id}/cancel", json={"at_period_end": True})
        assert cancelling.json()["status"] == "active" and cancelling.json()["cancel_at_period_end"] is True

        assert await finished(time_env, f"subscription-{subscription_id}") == "cancelled"
        body = (await api.get(f"/subscriptions/{subscription_id}")).json()
        assert body["status"] == "cancelled" and body["cancel_reason"] == "end_of_period"
        assert [r["cycle"] for r in body["renewals"]] == [1]
        resumed = await api.post(f"/subscriptions/{subscription_id}/resume")
        assert resumed.status_code == 409 and resumed.json()["error"]["code"] == "subscription_cancelled"


async def test_change_applies_from_the_next_cycle(stack, time_env, engine):
    worker, api, _ = await stack()
    async with worker, api:
        sku = await make_sku(engine, price=1000, stock={await make_location(engine): 50})
        subscription_id, first = await subscribe(api, time_env, sku, quantity=1, discount_bp=0)
        await time_env.sleep(timedelta(hours=1))
        changed = await api.patch(f"/subscriptions/{subscription_id}",
                                  json={"lines": [{"sku": sku, "quantity": 3}], "interval": "weekly"})
        assert changed.status_code == 200, changed.text
        # The renewal already scheduled keeps its date; weekly counts from it.
        assert changed.json()["next_renewal_at"].startswith(add_months(first, 1).isoformat())

        await until(time_env, add_months(first, 1) + 7 * DAY)
        placed = await renewals(engine, subscription_id)
        assert [r.renewal_date for r in placed] == [first, add_months(first, 1), add_months(first, 1) + 7 * DAY]
        async with engine.connect() as conn:
            units = (await conn.execute(select(func.sum(orders.c.subtotal)).where(
                orders.c.id.in_([r.id for r in placed])))).scalar()
        assert units == 1000 + 3000 + 3000


async def test_out_of_stock_renewal_waits_for_stock(stack, time_env, engine):
    worker, api, _ = await stack(subscription_out_of_stock_retry_days=5)
    async with worker, api:
        location = await make_location(engine)
        sku = await make_sku(engine, stock={location: 1})
        subscription_id, first = await subscribe(api, time_env, sku, quantity=2)
        await until(time_env, first + 2 * DAY, hours=6)
        assert await renewals(engine, subscription_id) == []
        async with engine.begin() as conn:
            await inventory.set_stock(conn, sku, location, on_hand=5, reason="receipt")

        await until(time_env, first + 4 * DAY)
        assert [r.cycle for r in await renewals(engine, subscription_id)] == [1]
        events = [e["type"] for e in (await api.get(f"/subscriptions/{subscription_id}")).json()["events"]]
        assert events.count("renewal_delayed") >= 2


async def test_ship_available_renews_what_is_in_stock(stack, time_env, engine):
    worker, api, _ = await stack(subscription_out_of_stock="ship_available")
    async with worker, api:
        sku = await make_sku(engine, price=1000, stock={await make_location(engine): 1})
        subscription_id, first = await subscribe(api, time_env, sku, quantity=3, discount_bp=0)
        await time_env.sleep(timedelta(hours=1))
        (placed,) = await renewals(engine, subscription_id)
        order = (await api.get(f"/orders/{placed.id}")).json()
        assert [(line["sku"], line["quantity"]) for line in order["lines"]] == [(sku, 1)]
        assert await atp(api, sku) == 0


async def test_validators_refuse_without_touching_history(stack, time_env, engine):
    worker, api, _ = await stack()
    async with worker, api:
        sku = await make_sku(engine, stock={await make_location(engine): 5})
        subscription_id, _ = await subscribe(api, time_env, sku)
        handle = time_env.client.get_workflow_handle(f"subscription-{subscription_id}")
        await time_env.sleep(timedelta(hours=1))
        refused = await api.post(f"/subscriptions/{subscription_id}/resume")
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "subscription_not_paused"
        kinds = {EventType.Name(event.event_type) for event in (await handle.fetch_history()).events}
        assert not any("UPDATE" in kind for kind in kinds), kinds
        view = await handle.query(SubscriptionWorkflow.describe)
        assert view.status == "active"


async def test_pause_is_refused_while_a_renewal_payment_is_failing(stack, time_env, engine):
    """Pausing mid-dunning would leave retries charging a paused subscription: refused until the card is fixed."""
    worker, api, _ = await stack()
    async with worker, api:
        _, subscription_id = await failing_renewal(api, time_env, engine)

        refused = await api.post(f"/subscriptions/{subscription_id}/pause", json={})
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "subscription_payment_failing"

        await new_card(api, time_env, subscription_id)
        paused = await api.post(f"/subscriptions/{subscription_id}/pause", json={})
        assert paused.status_code == 200, paused.text
        body = (await api.get(f"/subscriptions/{subscription_id}")).json()
        assert body["status"] == "paused" and body["dunning"] is None
        assert [r["cycle"] for r in body["renewals"]] == [1], "the failed cycle was paid before the pause"


async def test_a_card_insisting_on_3ds_is_declined_off_session_and_the_email_says_to_confirm(stack, time_env, engine):
    """Nobody is at the keyboard at renewal: the charge fails authentication_required, dunning asks the
    customer to update (and confirm) the payment method, and a new card renews at once."""
    worker, api, outbox = await stack()
    async with worker, api:
        sku, subscription_id = await failing_renewal(api, time_env, engine, "pm_card_authenticationRequired")

        body = (await api.get(f"/subscriptions/{subscription_id}")).json()
        assert body["dunning"]["last_error"] == "authentication_required"
        [email] = outbox.glob("*payment_failed*.eml")
        assert "Your bank asked you to confirm this payment" in email.read_text()
        assert await atp(api, sku) == 10, "the hold went back while the customer is away"

        await new_card(api, time_env, subscription_id)
        assert [(p.idempotency_key, p.status) for p in await charges(engine, subscription_id)] == [
            (f"{subscription_id}:cycle-1:charge", "failed"), (f"{subscription_id}:cycle-1:charge-2", "succeeded")]
        assert [r["cycle"] for r in (await api.get(f"/subscriptions/{subscription_id}")).json()["renewals"]] == [1]


# ---------------------------------------------------------------- faults: unknown outcomes and outages
class UnansweredCharges(LocalPaymentGateway):
    """Charges the card, then (while ``answering`` is False) loses the answer: an unknown outcome."""

    def __init__(self):
        super().__init__()
        self.answering = False
        self.charged_keys: set[str] = set()

    async def charge_off_session(self, **kwargs):
        result = await super().charge_off_session(**kwargs)
        self.charged_keys.add(kwargs["idempotency_key"])
        if not self.answering:
            raise TimeoutError("read timed out waiting for the provider")
        return result


class Outage:
    """A dependency down until ``until`` (server time, as the attempt was scheduled)."""

    def __init__(self):
        self.until = None

    def check(self) -> None:
        if self.until is not None and activity.info().current_attempt_scheduled_time < self.until:
            raise ConnectionError("the database is unreachable")

    async def starting_now(self, time_env, lasting: timedelta) -> None:
        self.until = await time_env.get_current_time() + lasting


async def first_run_history(time_env, subscription_id: str):
    handle = time_env.client.get_workflow_handle(f"subscription-{subscription_id}")
    first = (await handle.describe()).raw_description.workflow_execution_info.first_run_id
    return await time_env.client.get_workflow_handle(handle.id, run_id=first).fetch_history()


async def alert_of(time_env, subscription_id: str) -> str | None:
    description = await time_env.client.get_workflow_handle(f"subscription-{subscription_id}").describe()
    return description.typed_search_attributes.get(SUBSCRIPTION_ALERT)


async def test_an_unknown_charge_outcome_is_asked_again_under_the_same_key_never_dunned(stack, time_env, engine):
    """Retries exhausted on a timeout are not a decline: a second key could charge the card twice."""
    provider = UnansweredCharges()
    worker, api, outbox = await stack(payment=provider)
    async with worker, api:
        sku = await make_sku(engine, stock={await make_location(engine): 10})
        subscription_id, _ = await subscribe(api, time_env, sku)
        await time_env.sleep(timedelta(hours=14))  # past the charge's 12-hour budget

        body = (await api.get(f"/subscriptions/{subscription_id}")).json()
        assert body["dunning"] is None and body["status"] == "active", "an unknown outcome is no decline"
        unknown = [e["data"]["step"] for e in body["events"] if e["type"] == "outcome_unknown"]
        assert unknown == ["charge"], "the subscription says why it waits"
        assert await alert_of(time_env, subscription_id) == "charge_outcome_unknown"
        assert [(p.idempotency_key, p.status) for p in await charges(engine, subscription_id)] == [
            (f"{subscription_id}:cycle-1:charge", "pending")]
        assert await atp(api, sku) == 8, "the cycle's stock stays held while the charge is settled"
        assert not list(outbox.glob("*payment_failed*.eml")), "nobody was told their card failed"

        provider.answering = True
        await time_env.sleep(timedelta(hours=1))

        assert [r.cycle for r in await renewals(engine, subscription_id)] == [1]
        assert [(p.idempotency_key, p.status) for p in await charges(engine, subscription_id)] == [
            (f"{subscription_id}:cycle-1:charge", "succeeded")]
        assert provider.charged_keys == {f"{subscription_id}:cycle-1:charge"}, "the card was charged once"
        assert await alert_of(time_env, subscription_id) is None
        assert await atp(api, sku) == 8
        await replays_and_is_kept(await first_run_history(time_env, subscription_id), "subscription_charge_unknown")


async def test_a_database_outage_while_recording_does_not_end_the_subscription(stack, time_env, engine, monkeypatch):
    outage = Outage()
    real_record = subscription_store.record

    async def record(conn, current, event):
        outage.check()
        return await real_record(conn, current, event)

    monkeypatch.setattr(subscription_store, "record", record)
    worker, api, _ = await stack()
    async with worker, api:
        sku = await make_sku(engine, stock={await make_location(engine): 10})
        await outage.starting_now(time_env, timedelta(hours=2))  # far past the old five-minute budget
        subscription_id, first = await subscribe(api, time_env, sku)
        await time_env.sleep(timedelta(hours=3))

        assert [r.cycle for r in await renewals(engine, subscription_id)] == [1]
        body = (await api.get(f"/subscriptions/{subscription_id}")).json()
        assert body["status"] == "active", body
        assert body["next_renewal_at"].startswith(add_months(first, 1).isoformat()), "the row caught up"


async def test_a_database_outage_while_releasing_stock_does_not_lose_the_hold(stack, time_env, engine, monkeypatch):
    outage = Outage()
    real_release = inventory.release

    async def release(conn, key):
        outage.check()
        return await real_release(conn, key)

    monkeypatch.setattr(inventory, "release", release)
    worker, api, _ = await stack()
    async with worker, api:
        sku = await make_sku(engine, stock={await make_location(engine): 10})
        await outage.starting_now(time_env, timedelta(hours=2))
        subscription_id, _ = await subscribe(api, time_env, sku, payment_method="pm_card_chargeDeclined")
        await time_env.sleep(timedelta(hours=3))

        body = (await api.get(f"/subscriptions/{subscription_id}")).json()
        assert body["dunning"]["failures"] == 1, "the declined cycle goes on to dunning"
        assert await atp(api, sku) == 10, "the hold of the declined charge was released"


async def test_an_order_committed_but_unacknowledged_is_not_refunded(stack, time_env, engine, monkeypatch):
    """create_renewal_order is idempotent per cycle: a lost answer is asked again, never refunded."""
    outage = Outage()
    real_create = SubscriptionActivities.create_renewal_order

    @activity.defn(name="create_renewal_order")
    async def committed_then_lost(self, draft: OrderDraft, renewal: RenewalOrder) -> str:
        order_id = await real_create(self, draft, renewal)
        outage.check()
        return order_id

    monkeypatch.setattr(SubscriptionActivities, "create_renewal_order", committed_then_lost)
    worker, api, _ = await stack()
    async with worker, api:
        sku = await make_sku(engine, stock={await make_location(engine): 10})
        await outage.starting_now(time_env, timedelta(hours=1))
        subscription_id, _ = await subscribe(api, time_env, sku)
        await time_env.sleep(timedelta(hours=2))

        (placed,) = await renewals(engine, subscription_id)
        async with engine.connect() as conn:
            kinds = (await conn.execute(select(payment_operations.c.kind, payment_operations.c.status).where(
                payment_operations.c.payment_ref == placed.payment_ref))).all()
        assert sorted(kinds) == [("charge", "succeeded")], "no refund of a paid, placed order"
        assert placed.status == "captured"
        assert await atp(api, sku) == 8


class RefusingRefunds(LocalPaymentGateway):
    async def refund(self, **kwargs):
        raise DomainError("the charge is disputed: it cannot be refunded", code="charge_disputed")


async def test_a_refused_renewal_order_whose_refund_is_refused_alerts_and_still_releases_stock(
        stack, time_env, engine, monkeypatch):
    @activity.defn(name="create_renewal_order")
    async def hold_lapsed(self, draft: OrderDraft, renewal: RenewalOrder) -> str:
        raise ApplicationError("the stock hold lapsed", type="reservation_expired", non_retryable=True)

    monkeypatch.setattr(SubscriptionActivities, "create_renewal_order", hold_lapsed)
    worker, api, _ = await stack(payment=RefusingRefunds())
    async with worker, api:
        sku = await make_sku(engine, stock={await make_location(engine): 10})
        subscription_id, _ = await subscribe(api, time_env, sku)
        await time_env.sleep(timedelta(hours=2))

        async with engine.connect() as conn:
            money = sorted((await conn.execute(select(payment_operations.c.kind, payment_operations.c.status).where(
                payment_operations.c.payment_ref == f"{subscription_id}:cycle-1"))).all())
        assert money == [("charge", "succeeded"), ("refund", "failed")], "one refund, under the cycle's key"
        assert await alert_of(time_env, subscription_id) == "refund_failed"
        body = (await api.get(f"/subscriptions/{subscription_id}")).json()
        assert "refund_failed" in [e["type"] for e in body["events"]] and body["status"] == "active"
        assert await atp(api, sku) == 10, "the hold was released all the same"


async def test_a_hold_not_released_within_a_day_is_left_to_the_expiry_sweeper(stack, time_env, engine, monkeypatch):
    """Past its one-day budget the release is given up (logged), the subscription carries on with dunning,
    and the hold is not lost: it expires (the reservation sweeper, or the next reservation, frees it)."""
    outage = Outage()
    real_release = inventory.release

    async def release(conn, key):
        outage.check()
        return await real_release(conn, key)

    monkeypatch.setattr(inventory, "release", release)
    worker, api, _ = await stack()
    async with worker, api:
        sku = await make_sku(engine, stock={await make_location(engine): 10})
        await outage.starting_now(time_env, timedelta(hours=30))
        subscription_id, _ = await subscribe(api, time_env, sku, payment_method="pm_card_chargeDeclined")
        await time_env.sleep(timedelta(hours=50))  # dunning counts its day from the decline's bookkeeping

        body = (await api.get(f"/subscriptions/{subscription_id}")).json()
        assert body["dunning"]["failures"] == 2, "the subscription went on to its next dunning attempt"
        assert await atp(api, sku) == 10, "the hold whose release was given up lapsed at its expiry"
