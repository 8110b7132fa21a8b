"""Subscription emails on the time-skipping server: "renewal coming up" SUBSCRIPTION_RENEWAL_NOTICE_DAYS before
each renewal charge, once; none of them to a suppressed address."""

from datetime import timedelta
from email import message_from_bytes, policy

from sqlalchemy import delete, select

from db import suppressions
from db.tables import email_suppressions, subscription_events
from models.subscriptions import add_months
from tests.factories import make_location, make_sku
from tests.workflows.test_subscriptions import failing_renewal, stack, subscribe, until  # noqa: F401 - a fixture


async def reminder_events(engine, subscription_id: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(subscription_events.c.event_id).where(
            subscription_events.c.subscription_id == subscription_id,
            subscription_events.c.type == "email.renewal_upcoming").order_by(subscription_events.c.seq))
        return list(rows.scalars())


def subjects(outbox) -> list[str]:
    return sorted(message_from_bytes(path.read_bytes(), policy=policy.default)["Subject"]
                  for path in outbox.glob("*.eml"))


async def test_the_customer_hears_of_a_renewal_days_before_it_charges(stack, time_env, engine):  # noqa: F811
    worker, api, outbox = await stack()
    async with worker:
        sku = await make_sku(engine, stock={await make_location(engine): 10})
        subscription_id, today = await subscribe(api, time_env, sku)
        second = add_months(today, 1)

        await until(time_env, second - timedelta(days=1), hours=12)
        before = await reminder_events(engine, subscription_id)
        await until(time_env, second, hours=12)

    assert before == ["cycle-2:renewal-reminder:email"], "sent days before the second renewal, once"
    assert await reminder_events(engine, subscription_id) == before
    assert f"Your subscription renews on {second.isoformat()}" in subjects(outbox)


async def test_no_reminder_when_the_notice_is_zero(stack, time_env, engine):  # noqa: F811
    worker, api, outbox = await stack(subscription_renewal_notice_days=0)
    async with worker:
        sku = await make_sku(engine, stock={await make_location(engine): 10})
        subscription_id, today = await subscribe(api, time_env, sku)
        await until(time_env, add_months(today, 1), hours=12)

    assert await reminder_events(engine, subscription_id) == []
    assert not [s for s in subjects(outbox) if s.startswith("Your subscription renews")]


async def test_a_suppressed_address_gets_no_payment_failed_email(stack, time_env, engine):  # noqa: F811
    worker, api, outbox = await stack()
    async with engine.begin() as conn:
        await suppressions.suppress(conn, "ada@example.com", source="unsubscribe_page")
    try:
        async with worker:
            _, subscription_id = await failing_renewal(api, time_env, engine)
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(email_suppressions))

    assert f"Payment for subscription {subscription_id} failed" not in subjects(outbox)
