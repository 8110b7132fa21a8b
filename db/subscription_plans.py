"""Subscription plans: admin-defined intervals and discount a storefront names by id."""

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import subscription_plans
from models.errors import Conflict, NotFound
from models.ids import public_id
from models.subscriptions import SubscriptionPlan

_COLUMNS = (subscription_plans.c.id, subscription_plans.c.name, subscription_plans.c.intervals,
            subscription_plans.c.discount_bp, subscription_plans.c.active)


def _plan(row) -> SubscriptionPlan:
    return SubscriptionPlan(id=row.id, name=row.name, intervals=row.intervals, discount_bp=row.discount_bp,
                            active=row.active)


def _name_taken(name: str) -> Conflict:
    return Conflict(f"a plan named {name!r} exists already", code="subscription_plan_name_taken")


async def create(conn: AsyncConnection, *, name: str, intervals: list[str], discount_bp: int,
                 active: bool) -> SubscriptionPlan:
    plan_id = public_id("subscription_plan")
    try:
        async with conn.begin_nested():  # a taken name fails this statement, not the caller's transaction
            await conn.execute(subscription_plans.insert().values(id=plan_id, name=name, intervals=intervals,
                                                                  discount_bp=discount_bp, active=active))
    except IntegrityError as error:
        raise _name_taken(name) from error
    return await get(conn, plan_id)


async def get(conn: AsyncConnection, plan_id: str) -> SubscriptionPlan:
    row = (await conn.execute(select(*_COLUMNS).where(subscription_plans.c.id == plan_id))).first()
    if row is None:
        raise NotFound(f"subscription plan {plan_id} not found", code="subscription_plan_not_found")
    return _plan(row)


async def list_plans(conn: AsyncConnection, *, active_only: bool) -> list[SubscriptionPlan]:
    query = select(*_COLUMNS).order_by(subscription_plans.c.name)
    if active_only:
        query = query.where(subscription_plans.c.active)
    return [_plan(row) for row in await conn.execute(query)]


async def change(conn: AsyncConnection, plan_id: str, **values) -> SubscriptionPlan:
    """Update the given fields (name, intervals, discount_bp, active); subscriptions keep their discount."""
    await get(conn, plan_id)
    if values:
        try:
            async with conn.begin_nested():
                await conn.execute(update(subscription_plans).where(subscription_plans.c.id == plan_id)
                                   .values(**values, updated_at=func.now()))
        except IntegrityError as error:
            raise _name_taken(values.get("name", "")) from error
    return await get(conn, plan_id)
