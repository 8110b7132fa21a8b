"""Low-stock alerts: one row each time a SKU's total ATP falls to its reorder point.

Called at the end of every stock movement (reservations, counts, transfers), inside the movement's
transaction. The variant row is locked ``FOR UPDATE`` first, so concurrent movements of one SKU
decide in turn and each sees the alert the previous one recorded (a partial unique index backs
this up).
"""

from collections.abc import Iterable

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import low_stock_alerts, stock, variants
from models.ids import public_id
from models.inventory import atp


async def total_atp(conn: AsyncConnection, sku: str) -> int:
    """Sum over locations of ATP (transfers included), each floored at 0: a location short on safety
    stock lends nothing."""
    rows = await conn.execute(
        select(stock.c.on_hand, stock.c.reserved, stock.c.safety_stock, stock.c.inbound_transfers,
               stock.c.outbound_transfers).where(stock.c.sku == sku)
    )
    return sum(atp(r.on_hand, r.reserved, r.safety_stock, r.inbound_transfers, r.outbound_transfers) for r in rows)


async def check_reorder_point(conn: AsyncConnection, sku: str) -> None:
    """Open an alert on a downward crossing of the reorder point; resolve it once ATP is back above."""
    variant = (
        await conn.execute(select(variants.c.reorder_point).where(variants.c.sku == sku).with_for_update())
    ).first()
    if variant is None:
        return
    available = await total_atp(conn, sku)
    is_open = and_(low_stock_alerts.c.sku == sku, low_stock_alerts.c.resolved_at.is_(None))
    open_alert = (await conn.execute(select(low_stock_alerts.c.id).where(is_open))).first()
    # reorder_point 0 disables alerts, so an alert left open from before is moot too.
    low = variant.reorder_point > 0 and available <= variant.reorder_point
    if low and open_alert is None:
        await conn.execute(low_stock_alerts.insert().values(
            id=public_id("low_stock_alert"), sku=sku, atp_at_alert=available, reorder_point=variant.reorder_point,
        ))
    elif not low and open_alert is not None:
        await conn.execute(update(low_stock_alerts).where(is_open).values(resolved_at=func.now()))


async def check_reorder_points(conn: AsyncConnection, skus: Iterable[str]) -> None:
    """Check each distinct SKU once, in sku order so concurrent callers lock variants alike."""
    for sku in sorted(set(skus)):
        await check_reorder_point(conn, sku)


async def list_alerts(conn: AsyncConnection, *, open_only: bool | None = None, limit: int = 100) -> list:
    """Alerts newest first; ``open_only`` True/False filters open/resolved, None returns both."""
    query = select(low_stock_alerts).order_by(low_stock_alerts.c.created_at.desc(), low_stock_alerts.c.id)
    if open_only is not None:
        resolved = low_stock_alerts.c.resolved_at
        query = query.where(resolved.is_(None) if open_only else resolved.is_not(None))
    return list(await conn.execute(query.limit(limit)))
