"""The queries behind GET /reports/*: grouped by the store's calendar day (``REPORT_TIMEZONE``),
aggregated further in models.reports."""

from datetime import date, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Date, and_, cast, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import cart_reminders, carts, fraud_screenings, order_events, orders, refunds, returns
from models.order_state import OrderStatus
from models.reports import FraudReport, SalesReport, fraud_report, sales_report

UTC_NAME = "UTC"


def bounds(start: date, end: date, timezone: str = UTC_NAME) -> tuple[datetime, datetime]:
    """[start 00:00, day after end 00:00) in ``timezone``, as instants (a DST day is 23 or 25 hours)."""
    zone = ZoneInfo(timezone)
    return datetime.combine(start, time(), zone), datetime.combine(end + timedelta(days=1), time(), zone)


def day_of(column, timezone: str = UTC_NAME):
    """The calendar day in ``timezone`` of a timestamptz column."""
    return cast(func.timezone(timezone, column), Date)


def is_exchange_order():
    """A no-charge replacement sent for a return: not a sale."""
    return and_(orders.c.total == 0, exists().where(returns.c.replacement_order_id == orders.c.id))


def is_sale():
    """An order that brought money: neither cancelled nor a no-charge exchange."""
    return and_(orders.c.status != OrderStatus.CANCELLED, ~is_exchange_order())


async def sales(conn: AsyncConnection, start: date, end: date, timezone: str = UTC_NAME) -> SalesReport:
    low, high = bounds(start, end, timezone)
    _day = partial(day_of, timezone=timezone)
    order_day = _day(orders.c.created_at)
    placed = and_(orders.c.created_at >= low, orders.c.created_at < high)
    order_rows = await conn.execute(
        select(order_day, orders.c.currency, func.count(), cast(func.sum(orders.c.total), BigInteger))
        .where(and_(placed, is_sale())).group_by(order_day, orders.c.currency)
    )
    cancelled_rows = await conn.execute(
        select(order_day, orders.c.currency, func.count())
        .where(and_(placed, orders.c.status == OrderStatus.CANCELLED)).group_by(order_day, orders.c.currency)
    )
    refund_day = _day(refunds.c.created_at)
    refund_rows = await conn.execute(
        select(refund_day, refunds.c.currency, cast(func.sum(refunds.c.amount), BigInteger))
        .where(and_(refunds.c.created_at >= low, refunds.c.created_at < high, refunds.c.status == "succeeded"))
        .group_by(refund_day, refunds.c.currency)
    )
    cart_day = _day(carts.c.created_at)
    cart_rows = await conn.execute(
        select(cart_day, func.count(), func.count().filter(carts.c.status == "checked_out"))
        .where(and_(carts.c.created_at >= low, carts.c.created_at < high)).group_by(cart_day)
    )
    from_carts = await conn.execute(
        select(order_day, func.count())
        .where(and_(placed, ~is_exchange_order(), exists().where(carts.c.id == orders.c.cart_id)))
        .group_by(order_day)
    )
    reminded, recovered = await cart_recovery(conn, low, high)
    return sales_report(start, end, orders=[tuple(r) for r in order_rows], refunds=[tuple(r) for r in refund_rows],
                        carts=[tuple(r) for r in cart_rows], cart_orders=[tuple(r) for r in from_carts],
                        reminded=reminded, recovered=recovered, cancelled=[tuple(r) for r in cancelled_rows])


async def cart_recovery(conn: AsyncConnection, low: datetime, high: datetime) -> tuple[int, int]:
    """(carts whose first reminder went out in [low, high), those among them with an order placed after it)."""
    first = (
        select(cart_reminders.c.cart_id, func.min(cart_reminders.c.sent_at).label("first_sent"))
        .group_by(cart_reminders.c.cart_id).subquery()
    )
    recovered = exists().where(and_(orders.c.cart_id == first.c.cart_id, orders.c.created_at > first.c.first_sent))
    row = (await conn.execute(
        select(func.count(), func.count().filter(recovered))
        .where(and_(first.c.first_sent >= low, first.c.first_sent < high))
    )).one()
    return row[0], row[1]


async def fraud(conn: AsyncConnection, month: str, start: date, next_month: date,
                timezone: str = UTC_NAME) -> FraudReport:
    low, high = bounds(start, next_month - timedelta(days=1), timezone)
    order_count = (await conn.execute(
        select(func.count()).where(and_(orders.c.created_at >= low, orders.c.created_at < high))
    )).scalar_one()
    disputes = (await conn.execute(
        select(func.count()).where(and_(order_events.c.type == "payment.disputed",
                                        order_events.c.created_at >= low, order_events.c.created_at < high))
    )).scalar_one()
    in_month = and_(fraud_screenings.c.created_at >= low, fraud_screenings.c.created_at < high)
    screenings = await conn.execute(
        select(fraud_screenings.c.outcome, func.count()).where(in_month).group_by(fraud_screenings.c.outcome))
    reviews = await conn.execute(
        select(fraud_screenings.c.review, func.count())
        .where(and_(in_month, fraud_screenings.c.review.is_not(None))).group_by(fraud_screenings.c.review))
    return fraud_report(month, orders=order_count, disputes=disputes, screenings=[tuple(r) for r in screenings],
                        reviews=[tuple(r) for r in reviews])
