"""Inventory store: the single source of stock truth, in PostgreSQL.

Every change locks the affected ``stock`` rows (ordered by sku, location to avoid
deadlocks) and writes a ledger entry in the same transaction; a CHECK constraint
(reserved + outbound_transfers <= on_hand + inbound_transfers) backs the arithmetic up.
Transfers between locations (db.transfers) move the inbound/outbound columns.
"""

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import and_, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db import stock_alerts
from db.tables import inventory_ledger, locations, prices, reservations, stock, variants
from models.commerce import Reservation, ReservedItem
from models.errors import Conflict, DomainError, NotFound
from models.ids import public_id
from models.inventory import StockLevel, plan_reservation, violations
from models.stock_admin import CountLine, StockRow, stock_rows


def _level(row) -> StockLevel:
    return StockLevel(
        sku=row.sku, location_id=row.location_id, on_hand=row.on_hand,
        reserved=row.reserved, safety_stock=row.safety_stock,
        inbound_transfers=row.inbound_transfers, outbound_transfers=row.outbound_transfers,
    )


async def lock_levels(conn: AsyncConnection, skus: Iterable[str]) -> list[StockLevel]:
    rows = await conn.execute(
        select(stock).where(stock.c.sku.in_(sorted(set(skus))))
        .order_by(stock.c.sku, stock.c.location_id).with_for_update()
    )
    return [_level(r) for r in rows]


async def _ledger(conn, sku, location_id, *, on_hand=0, reserved=0, inbound=0, outbound=0, reason,
                  reference=None, note=None):
    await conn.execute(
        inventory_ledger.insert().values(
            sku=sku, location_id=location_id, delta_on_hand=on_hand, delta_reserved=reserved,
            delta_inbound_transfers=inbound, delta_outbound_transfers=outbound,
            reason=reason, reference=reference, note=note,
        )
    )


async def _change_reserved(conn, sku, location_id, delta, *, reason, reference):
    await conn.execute(
        update(stock).where(and_(stock.c.sku == sku, stock.c.location_id == location_id))
        .values(reserved=stock.c.reserved + delta, updated_at=func.now())
    )
    await _ledger(conn, sku, location_id, reserved=delta, reason=reason, reference=reference)


async def existing_reservation(conn: AsyncConnection, key: str) -> list:
    rows = await conn.execute(
        select(reservations).where(reservations.c.reservation_key == key).order_by(reservations.c.sku)
    )
    return list(rows)


def _as_reservation(key: str, rows, expires_at: datetime) -> Reservation:
    items = [ReservedItem(sku=r.sku, location_id=r.location_id, quantity=r.quantity) for r in rows]
    return Reservation(reservation_key=key, items=items, expires_at=expires_at)


async def reserve(
    conn: AsyncConnection, key: str, wanted: dict[str, int], *, now: datetime, expires_at: datetime
) -> Reservation:
    """Hold ``wanted`` (sku → quantity) under ``key``; idempotent per key.

    Raises ``OutOfStock`` naming the first short SKU; nothing is held in that case.
    """
    prior = await existing_reservation(conn, key)
    if prior:
        if any(r.status != "active" for r in prior):
            raise Conflict(f"reservation {key} is no longer active", code="reservation_expired")
        return _as_reservation(key, prior, prior[0].expires_at)

    await expire_due(conn, now=now, skus=wanted.keys())
    levels = await lock_levels(conn, wanted.keys())
    picks = [p for sku in sorted(wanted) for p in plan_reservation(sku, wanted[sku], levels)]
    for pick in picks:
        await conn.execute(
            reservations.insert().values(
                id=public_id("reservation"), reservation_key=key, sku=pick.sku,
                location_id=pick.location_id, quantity=pick.quantity, status="active", expires_at=expires_at,
            )
        )
        await _change_reserved(conn, pick.sku, pick.location_id, pick.quantity, reason="reserve", reference=key)
    await stock_alerts.check_reorder_points(conn, wanted)
    return Reservation(
        reservation_key=key,
        items=[ReservedItem(sku=p.sku, location_id=p.location_id, quantity=p.quantity) for p in picks],
        expires_at=expires_at,
    )


async def release_rows(conn: AsyncConnection, rows, *, status: str, reason: str) -> int:
    released = 0
    for row in rows:
        await conn.execute(
            update(reservations).where(reservations.c.id == row.id).values(status=status, updated_at=func.now())
        )
        await _change_reserved(conn, row.sku, row.location_id, -row.quantity, reason=reason, reference=row.reservation_key)
        released += row.quantity
    return released


async def release(conn: AsyncConnection, key: str) -> int:
    """Give back everything still actively held under ``key``. Safe to repeat."""
    rows = await conn.execute(
        select(reservations).where(and_(reservations.c.reservation_key == key, reservations.c.status == "active"))
        .order_by(reservations.c.sku, reservations.c.location_id).with_for_update()
    )
    rows = list(rows)
    if rows:
        await lock_levels(conn, [r.sku for r in rows])
    released = await release_rows(conn, rows, status="released", reason="release")
    await stock_alerts.check_reorder_points(conn, [r.sku for r in rows])
    return released


async def release_order(conn: AsyncConnection, order_id: str) -> int:
    """Compensation for a cancelled order: give back every unit it still holds or has allocated."""
    rows = list(await conn.execute(
        select(reservations).where(and_(reservations.c.order_id == order_id,
                                        reservations.c.status.in_(("committed", "allocated"))))
        .order_by(reservations.c.sku, reservations.c.location_id).with_for_update()
    ))
    if rows:
        await lock_levels(conn, [r.sku for r in rows])
    units = await release_rows(conn, rows, status="released", reason="cancel")
    await stock_alerts.check_reorder_points(conn, [r.sku for r in rows])
    return units


async def commit_to_order(conn: AsyncConnection, key: str, order_id: str) -> None:
    """Turn an active checkout hold into an order's hold: it no longer expires."""
    rows = list(
        await conn.execute(
            select(reservations).where(reservations.c.reservation_key == key).with_for_update()
        )
    )
    if not rows:
        raise Conflict(f"no reservation under {key}", code="reservation_expired")
    if all(r.status == "committed" and r.order_id == order_id for r in rows):
        return
    if any(r.status != "active" for r in rows):
        raise Conflict("the stock hold expired before the order was placed", code="reservation_expired")
    await conn.execute(
        update(reservations).where(reservations.c.reservation_key == key)
        .values(status="committed", order_id=order_id, expires_at=None, updated_at=func.now())
    )


async def hold(conn: AsyncConnection, key: str, items: list[tuple[str, str, int]], *, status: str,
               order_id: str | None, reason: str) -> None:
    """Hold (sku, location, quantity) items under ``key`` at known locations (rows already locked)."""
    for sku, location_id, quantity in items:
        await conn.execute(
            reservations.insert().values(
                id=public_id("reservation"), reservation_key=key, sku=sku, location_id=location_id,
                quantity=quantity, status=status, order_id=order_id, expires_at=None,
            )
        )
        await _change_reserved(conn, sku, location_id, quantity, reason=reason, reference=key)
    await stock_alerts.check_reorder_points(conn, [sku for sku, _, _ in items])


async def consume(conn: AsyncConnection, key: str) -> None:
    """Goods shipped: the held units leave on_hand and the hold ends. Safe to repeat."""
    rows = list(await conn.execute(
        select(reservations).where(and_(reservations.c.reservation_key == key, reservations.c.status == "allocated"))
        .order_by(reservations.c.sku, reservations.c.location_id).with_for_update()
    ))
    if rows:
        await lock_levels(conn, [r.sku for r in rows])
    for row in rows:
        await conn.execute(
            update(stock).where(and_(stock.c.sku == row.sku, stock.c.location_id == row.location_id))
            .values(on_hand=stock.c.on_hand - row.quantity, reserved=stock.c.reserved - row.quantity,
                    updated_at=func.now())
        )
        await _ledger(conn, row.sku, row.location_id, on_hand=-row.quantity, reserved=-row.quantity,
                      reason="ship", reference=key)
        await conn.execute(update(reservations).where(reservations.c.id == row.id)
                           .values(status="consumed", updated_at=func.now()))


async def receive(conn: AsyncConnection, sku: str, location_id: str, quantity: int, *, reason: str,
                  reference: str) -> None:
    """Units come (back) onto a shelf: on_hand grows by ``quantity``, recorded in the ledger."""
    await ensure_row(conn, sku, location_id)
    await lock_levels(conn, [sku])
    await move(conn, sku, location_id, on_hand=quantity, reason=reason, reference=reference)
    await stock_alerts.check_reorder_points(conn, [sku])


async def expire_due(conn: AsyncConnection, *, now: datetime, skus: Iterable[str] | None = None) -> int:
    """Release active holds whose expiry has passed (optionally only for some SKUs)."""
    query = select(reservations).where(and_(reservations.c.status == "active", reservations.c.expires_at <= now))
    if skus is not None:
        query = query.where(reservations.c.sku.in_(list(skus)))
    rows = list(await conn.execute(query.order_by(reservations.c.sku, reservations.c.location_id).with_for_update(skip_locked=True)))
    if rows:
        await lock_levels(conn, [r.sku for r in rows])
    released = await release_rows(conn, rows, status="expired", reason="expire")
    await stock_alerts.check_reorder_points(conn, [r.sku for r in rows])
    return released


async def set_stock(
    conn: AsyncConnection, sku: str, location_id: str, *, on_hand: int, safety_stock: int | None = None,
    reason: str = "count", reference: str | None = None,
) -> StockLevel:
    """Set the counted on-hand quantity (a stock take or receipt), recording the delta."""
    await ensure_row(conn, sku, location_id)
    (current,) = await _lock_levels_at(conn, sku, location_id)
    delta = on_hand - current.on_hand
    values = {"on_hand": on_hand, "updated_at": func.now()}
    if safety_stock is not None:
        values["safety_stock"] = safety_stock
    # The stock table's CHECK: what is promised here must stay covered by the shelf plus confirmed inbound.
    if violations(replace(current, on_hand=on_hand)):
        transfers = (f" ({current.outbound_transfers} committed to outbound transfers, {current.inbound_transfers}"
                     " inbound)" if current.outbound_transfers or current.inbound_transfers else "")
        raise Conflict(
            f"cannot set on_hand of {sku} at {location_id} to {on_hand}: {current.reserved} units are reserved"
            + transfers,
            code="stock_below_reserved",
        )
    await conn.execute(
        update(stock).where(and_(stock.c.sku == sku, stock.c.location_id == location_id)).values(**values)
    )
    if delta:
        await _ledger(conn, sku, location_id, on_hand=delta, reason=reason, reference=reference)
    await stock_alerts.check_reorder_point(conn, sku)
    return replace(current, on_hand=on_hand, safety_stock=values.get("safety_stock", current.safety_stock))


async def _lock_levels_at(conn, sku, location_id) -> list[StockLevel]:
    rows = await conn.execute(
        select(stock).where(tuple_(stock.c.sku, stock.c.location_id) == (sku, location_id)).with_for_update()
    )
    return [_level(r) for r in rows]


async def lock_locations(conn: AsyncConnection, sku: str, location_ids: Iterable[str]) -> dict[str, StockLevel]:
    """Lock the stock rows of ``sku`` at ``location_ids`` in (sku, location_id) order, like every other
    movement; a location without a row is missing from the answer."""
    rows = await conn.execute(
        select(stock).where(and_(stock.c.sku == sku, stock.c.location_id.in_(sorted(set(location_ids)))))
        .order_by(stock.c.sku, stock.c.location_id).with_for_update()
    )
    return {r.location_id: _level(r) for r in rows}


async def ensure_row(conn: AsyncConnection, sku: str, location_id: str) -> None:
    """Create an empty stock row if there is none. Call it before taking row locks: the insert holds the
    new row until commit, so inserting after locking others could deadlock with another inserter."""
    await conn.execute(
        insert(stock).values(sku=sku, location_id=location_id, on_hand=0, reserved=0, safety_stock=0)
        .on_conflict_do_nothing()
    )


async def move(conn: AsyncConnection, sku: str, location_id: str, *, on_hand: int = 0, inbound: int = 0,
               outbound: int = 0, reason: str, reference: str | None = None, note: str | None = None) -> None:
    """Add deltas to a locked stock row's on_hand and transfer columns, with its ledger row."""
    await conn.execute(
        update(stock).where(and_(stock.c.sku == sku, stock.c.location_id == location_id))
        .values(on_hand=stock.c.on_hand + on_hand, inbound_transfers=stock.c.inbound_transfers + inbound,
                outbound_transfers=stock.c.outbound_transfers + outbound, updated_at=func.now())
    )
    await _ledger(conn, sku, location_id, on_hand=on_hand, inbound=inbound, outbound=outbound, reason=reason,
                  reference=reference, note=note)


async def levels_for(conn: AsyncConnection, sku: str) -> list[tuple[StockLevel, str]]:
    """Stock levels of one SKU with each location's code (read-only, no locks)."""
    rows = await conn.execute(
        select(stock, locations.c.code).join(locations, locations.c.id == stock.c.location_id)
        .where(stock.c.sku == sku).order_by(locations.c.code)
    )
    return [(_level(r), r.code) for r in rows]


async def location_id_by_code(conn: AsyncConnection, code: str) -> str:
    row = (await conn.execute(select(locations.c.id).where(locations.c.code == code))).first()
    if row is None:
        raise NotFound(f"unknown location {code!r}", code="location_not_found")
    return row.id


# ---------------------------------------------------------------- inventory admin: the stock list, settings, counts
async def stock_list(conn: AsyncConnection, *, location: str | None = None,
                     below_reorder_point: bool = False) -> list[StockRow]:
    """Every stock row (optionally at one location code), with its SKU's total ATP over every location."""
    rows = await conn.execute(
        select(stock, locations.c.code, variants.c.reorder_point)
        .join(locations, locations.c.id == stock.c.location_id).join(variants, variants.c.sku == stock.c.sku)
    )
    listed = stock_rows((_level(row), row.code, row.reorder_point) for row in rows)
    return [row for row in listed
            if (location is None or row.location == location) and (row.below_reorder_point or not below_reorder_point)]


async def base_prices(conn: AsyncConnection) -> list[tuple[str, str, int]]:
    """(sku, currency, base price) of every priced variant."""
    rows = await conn.execute(select(variants.c.sku, prices.c.currency, prices.c.amount)
                              .join(prices, prices.c.variant_id == variants.c.id))
    return [tuple(row) for row in rows]


async def set_reorder_point(conn: AsyncConnection, sku: str, reorder_point: int) -> None:
    """Change the SKU's reorder point and open or resolve its low-stock alert at once."""
    await conn.execute(update(variants).where(variants.c.sku == sku)
                       .values(reorder_point=reorder_point, updated_at=func.now()))
    await stock_alerts.check_reorder_point(conn, sku)


async def set_safety_stock(conn: AsyncConnection, sku: str, location_id: str, safety_stock: int) -> StockLevel:
    """Change what the location keeps back from sale; the low-stock alert follows the new ATP."""
    await ensure_row(conn, sku, location_id)
    (current,) = await _lock_levels_at(conn, sku, location_id)
    await conn.execute(update(stock).where(and_(stock.c.sku == sku, stock.c.location_id == location_id))
                       .values(safety_stock=safety_stock, updated_at=func.now()))
    await stock_alerts.check_reorder_point(conn, sku)
    return replace(current, safety_stock=safety_stock)


async def apply_count(conn: AsyncConnection, line: CountLine, *, reference: str | None) -> dict:
    """One row of a bulk count, inside a savepoint: a refused row leaves nothing behind and the others go on."""
    report = {"row": line.row, "sku": line.sku, "location": line.location}
    try:
        async with conn.begin_nested():
            if (await conn.execute(select(variants.c.id).where(variants.c.sku == line.sku))).first() is None:
                raise NotFound(f"unknown SKU {line.sku!r}", code="unknown_sku")
            location_id = await location_id_by_code(conn, line.location)
            before = (await conn.execute(select(stock.c.on_hand).where(
                and_(stock.c.sku == line.sku, stock.c.location_id == location_id)))).scalar() or 0
            await set_stock(conn, line.sku, location_id, on_hand=line.on_hand, safety_stock=line.safety_stock,
                            reason="count", reference=reference)
            if line.reorder_point is not None:
                await set_reorder_point(conn, line.sku, line.reorder_point)
    except DomainError as refused:
        return {**report, "status": "refused", "code": refused.code, "message": str(refused)}
    return {**report, "status": "ok", "on_hand_before": before, "on_hand": line.on_hand,
            "delta": line.on_hand - before}
