"""The queries behind the payment health, fulfilment, returns and inventory reports (models.operations_reports,
models.stock_admin). Periods are the store's calendar days, as in db.reports."""

from datetime import date

from sqlalchemy import BigInteger, Float, and_, cast, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db import inventory
from db.reports import UTC_NAME, bounds, is_exchange_order
from db.tables import orders, payment_operations, returns, shipments
from models.operations_reports import (
    FulfilmentReport, PaymentHealth, ReturnsReport, durations, label_costs, payment_health, returns_report,
)
from models.stock_admin import InventoryReport, inventory_report


def _in(column, low, high):
    return and_(column >= low, column < high)


async def payments(conn: AsyncConnection, start: date, end: date, timezone: str = UTC_NAME) -> PaymentHealth:
    low, high = bounds(start, end, timezone)
    op = payment_operations.c
    rows = await conn.execute(
        select(op.kind, op.status, op.error_code, op.currency, func.count(), cast(func.sum(op.amount), BigInteger))
        .where(_in(op.created_at, low, high)).group_by(op.kind, op.status, op.error_code, op.currency)
    )
    return payment_health(start, end, [tuple(row) for row in rows])


def _seconds(later, earlier):
    return cast(func.extract("epoch", later - earlier), Float)


async def _durations(conn: AsyncConnection, period, until):
    seconds = _seconds(until, shipments.c.created_at)
    row = (await conn.execute(
        select(func.count(), func.avg(seconds), func.percentile_cont(0.5).within_group(seconds))
        .where(and_(period, until.is_not(None)))
    )).one()
    return durations(*row)


async def fulfilment(conn: AsyncConnection, start: date, end: date, timezone: str = UTC_NAME) -> FulfilmentReport:
    low, high = bounds(start, end, timezone)
    period = and_(_in(shipments.c.created_at, low, high), shipments.c.status != "cancelled")
    parcels = (await conn.execute(select(func.count()).where(period))).scalar_one()
    costs = await conn.execute(
        select(orders.c.currency, func.count(func.distinct(shipments.c.order_id)),
               cast(func.sum(shipments.c.label_cost), BigInteger))
        .join(orders, orders.c.id == shipments.c.order_id)
        .where(and_(period, shipments.c.label_cost.is_not(None))).group_by(orders.c.currency)
    )
    return FulfilmentReport(start=start, end=end, parcels=parcels,
                            time_to_pack=await _durations(conn, period, shipments.c.packed_at),
                            time_to_ship=await _durations(conn, period, shipments.c.shipped_at),
                            label_cost=label_costs([tuple(row) for row in costs]))


async def returns_in(conn: AsyncConnection, start: date, end: date, timezone: str = UTC_NAME) -> ReturnsReport:
    low, high = bounds(start, end, timezone)
    placed = and_(_in(orders.c.created_at, low, high), ~is_exchange_order())
    has_return = exists().where(returns.c.order_id == orders.c.id)
    order_count, returned = (await conn.execute(
        select(func.count(), func.count().filter(has_return)).where(placed))).one()
    rows = await conn.execute(select(returns.c.status, returns.c.lines).where(_in(returns.c.created_at, low, high)))
    return returns_report(start, end, orders=order_count, orders_returned=returned,
                          returns=[tuple(row) for row in rows])


async def inventory_now(conn: AsyncConnection) -> InventoryReport:
    return inventory_report(await inventory.stock_list(conn), await inventory.base_prices(conn))
