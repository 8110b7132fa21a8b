"""Fulfillment persistence: routing an order's holds into shipments, shipping, tracking."""

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db import inventory
from db import orders as order_store
from db import payments as ledger
from db.rows import row_or_404
from db.tables import (
    locations, order_events, order_lines, orders, payment_operations, reservations, shipment_events, shipment_items,
    shipments, variants,
)
from models import workflow_ids
from models.commerce import Address, PaymentAuthorization
from models.errors import Conflict
from models.fulfillment import (
    FulfillmentPolicy, OrderLineSnapshot, OrderSnapshot, PlannedShipment, ShipmentItem, TrackingEvent,
    status_after_shipment,
)
from models.ids import public_id
from models.order_state import OrderStatus
from models.routing import Location, route


async def order_row(conn: AsyncConnection, order_id: str, *, lock: bool = False):
    return await row_or_404(conn, orders, order_id, what="order", code="order_not_found", lock=lock)


async def snapshot(conn: AsyncConnection, order_id: str, policy: FulfillmentPolicy) -> OrderSnapshot:
    order = await order_row(conn, order_id)
    lines = await conn.execute(
        select(order_lines, variants.c.weight_grams).outerjoin(variants, variants.c.sku == order_lines.c.sku)
        .where(order_lines.c.order_id == order_id).order_by(order_lines.c.sku)
    )
    return OrderSnapshot(
        order_id=order.id, status=order.status, email=order.email, currency=order.currency, total=order.total,
        shipping_total=order.shipping_total, shipping_address=Address(**order.shipping_address),
        shipping_service=order.shipping_method["service"], shipping_rate_id=order.shipping_method.get("rate_id"),
        tax_exemption=order.tax_exemption,
        lines=[OrderLineSnapshot(sku=r.sku, title=r.title, quantity=r.quantity, unit_price=r.unit_price,
                                 line_total=r.line_total, tax=r.tax, weight_grams=r.weight_grams or 0,
                                 tax_code=r.tax_code)
               for r in lines],
        authorization=current_authorization(order), payment_ref=order.payment_ref, created_at=order.created_at,
        policy=policy,
    )


async def planned_shipments(conn: AsyncConnection, order_id: str) -> list[PlannedShipment]:
    rows = await conn.execute(
        select(shipments.c.id, shipments.c.location_id, shipment_items.c.sku, shipment_items.c.quantity)
        .join(shipment_items, shipment_items.c.shipment_id == shipments.c.id)
        .where(shipments.c.order_id == order_id)
        # Parcels an order edit replaced (cancelled) last: the first live parcel carries the shipping (tax commit).
        .order_by(shipments.c.status == "cancelled", shipments.c.created_at, shipments.c.id, shipment_items.c.sku)
    )
    plans: dict[str, PlannedShipment] = {}
    for r in rows:
        plan = plans.setdefault(r.id, PlannedShipment(shipment_id=r.id, location_id=r.location_id, items=[]))
        plan.items.append(ShipmentItem(sku=r.sku, quantity=r.quantity))
    return list(plans.values())


async def allocate(conn: AsyncConnection, order_id: str, distances: Mapping[str, Mapping[str, int]]) -> list[PlannedShipment]:
    """Route the order and turn its stock holds into per-shipment allocations. Idempotent."""
    order = await order_row(conn, order_id, lock=True)
    existing = await planned_shipments(conn, order_id)
    if existing:
        return existing
    holds = list(await conn.execute(
        select(reservations).where(and_(reservations.c.order_id == order_id, reservations.c.status == "committed"))
    ))
    if not holds:
        raise Conflict(f"order {order_id} holds no stock to allocate", code="nothing_to_allocate")
    wanted: dict[str, int] = {}
    for hold in holds:
        wanted[hold.sku] = wanted.get(hold.sku, 0) + hold.quantity
    levels = await inventory.lock_levels(conn, wanted)
    own = {(h.location_id, h.sku): h.quantity for h in holds}
    available = {(lv.location_id, lv.sku): lv.atp + own.get((lv.location_id, lv.sku), 0) for lv in levels}
    location_rows = await conn.execute(select(locations.c.id, locations.c.region))
    plan = route(wanted, available, [Location(r.id, r.region) for r in location_rows],
                 _destination_region(order.shipping_address), distances)
    await inventory.release_rows(conn, holds, status="released", reason="reroute")
    by_location: dict[str, list] = {}
    for allocation in plan:
        by_location.setdefault(allocation.location_id, []).append(allocation)
    for location_id, allocations in sorted(by_location.items()):
        shipment_id = public_id("shipment")
        await conn.execute(shipments.insert().values(id=shipment_id, order_id=order_id, location_id=location_id,
                                                     workflow_id=workflow_ids.shipment(shipment_id)))
        for a in allocations:
            await conn.execute(shipment_items.insert().values(shipment_id=shipment_id, sku=a.sku, quantity=a.quantity))
        await inventory.hold(conn, shipment_id, [(a.sku, location_id, a.quantity) for a in allocations],
                             status="allocated", order_id=order_id, reason="allocate")
    return await planned_shipments(conn, order_id)


def _destination_region(address: dict) -> str:
    # Regions are coarse on purpose: the distance table is ops-maintained, not a geocoder.
    country, region = address.get("country"), (address.get("region") or "").upper()
    if country != "US":
        return "eu" if country in EU_COUNTRIES else "intl"
    if region in US_WEST:
        return "us-west"
    if region in US_CENTRAL:
        return "us-central"
    return "us-east"


US_WEST = {"WA", "OR", "CA", "NV", "ID", "MT", "WY", "UT", "AZ", "CO", "NM", "AK", "HI"}
US_CENTRAL = {"ND", "SD", "NE", "KS", "OK", "TX", "MN", "IA", "MO", "AR", "LA", "WI", "IL", "MI", "IN"}
EU_COUNTRIES = {"DE", "FR", "NL", "BE", "IE", "ES", "IT", "PT", "AT", "SE", "DK", "FI", "PL", "GB"}


async def shipment_row(conn: AsyncConnection, shipment_id: str, *, lock: bool = False):
    return await row_or_404(conn, shipments, shipment_id, what="shipment", code="shipment_not_found", lock=lock)


async def set_status(conn: AsyncConnection, shipment_id: str, status: str, **values) -> None:
    if status == "packed":  # the first time only: a label refunded puts the parcel back to packed
        values.setdefault("packed_at", func.coalesce(shipments.c.packed_at, func.now()))
    await conn.execute(update(shipments).where(shipments.c.id == shipment_id)
                       .values(status=status, updated_at=func.now(), **values))


async def reserve_capture(conn: AsyncConnection, shipment_id: str, compute) -> tuple[int, PaymentAuthorization, str]:
    """Fix this shipment's capture amount under the order lock (so re-authorization can't race it).

    ``compute(captured_so_far, is_last)`` returns the amount: the shipment's share of the order (its tax
    documents and refunds follow it), not necessarily what its capture takes (``models.payments.parcel_capture``).
    Returns (amount, authorization, payment_ref).
    """
    shipment = await shipment_row(conn, shipment_id)
    order = await order_row(conn, shipment.order_id, lock=True)
    if order.status == "cancelled" or shipment.status == "cancelled":  # the order, or an edit replaced the parcel
        raise Conflict(f"order {order.id} was cancelled", code="order_cancelled")
    if (await shipment_row(conn, shipment_id)).capture_amount is None:
        siblings = list(await conn.execute(select(shipments.c.id, shipments.c.capture_amount).where(and_(
            shipments.c.order_id == order.id, shipments.c.status != "cancelled"))))
        captured = sum(s.capture_amount or 0 for s in siblings)
        uncaptured = [s.id for s in siblings if s.capture_amount is None]
        amount = compute(captured, uncaptured == [shipment_id])
        await conn.execute(update(shipments).where(shipments.c.id == shipment_id).values(capture_amount=amount))
    amount = (await shipment_row(conn, shipment_id)).capture_amount
    return amount, current_authorization(order), order.payment_ref


def current_authorization(order) -> PaymentAuthorization:
    """The order's current authorization, and whether the provider lets it be captured in parts."""
    return PaymentAuthorization(provider=order.payment_provider, authorization_id=order.authorization_id,
                                amount=order.authorized_amount, currency=order.currency,
                                multicapture=order.multicapture)


async def replaced_authorization(conn: AsyncConnection, order_id: str,
                                  event_id: str) -> tuple[str, PaymentAuthorization] | None:
    """(payment_ref, authorization) a re-authorization replaced, as its event recorded it; None if unrecorded."""
    event = (await conn.execute(select(order_events.c.data).where(and_(
        order_events.c.order_id == order_id, order_events.c.event_id == event_id)))).first()
    replaced = event.data.get("replaced") if event is not None else None
    if replaced is None:
        return None
    order = await order_row(conn, order_id)
    return replaced["payment_ref"], PaymentAuthorization(
        provider=order.payment_provider, authorization_id=replaced["authorization_id"],
        amount=order.authorized_amount, currency=order.currency)


async def release_refused_capture(conn: AsyncConnection, shipment_id: str) -> int:
    """The provider definitely refused this parcel's capture: forget its capture share (so the
    order can be cancelled again) and give its allocated stock back. Returns units released. Idempotent."""
    shipment = await shipment_row(conn, shipment_id, lock=True)
    await order_row(conn, shipment.order_id, lock=True)  # same lock order as ship(): shipment, then order
    if shipment.shipped_at is not None:
        raise Conflict(f"shipment {shipment_id} has shipped", code="already_shipped")
    await set_status(conn, shipment_id, shipment.status, capture_amount=None)
    held = list(await conn.execute(
        select(reservations).where(and_(reservations.c.reservation_key == shipment_id,
                                        reservations.c.status == "allocated"))
        .order_by(reservations.c.sku, reservations.c.location_id).with_for_update()
    ))
    if held:
        await inventory.lock_levels(conn, [r.sku for r in held])
    return await inventory.release_rows(conn, held, status="released", reason="capture_refused")


async def any_capture_started(conn: AsyncConnection, order_id: str) -> bool:
    found = await conn.execute(select(shipments.c.id).where(and_(shipments.c.order_id == order_id,
                                                                 shipments.c.capture_amount.is_not(None))))
    return found.first() is not None


async def ship(conn: AsyncConnection, shipment_id: str, now: datetime) -> OrderStatus:
    """Stock leaves the building: consume the allocation, advance the order. Idempotent."""
    shipment = await shipment_row(conn, shipment_id, lock=True)
    order = await order_row(conn, shipment.order_id, lock=True)
    if shipment.shipped_at is None:
        await inventory.consume(conn, shipment_id)
        await set_status(conn, shipment_id, "shipped", shipped_at=now)
    statuses = list(await conn.execute(select(shipments.c.shipped_at).where(and_(
        shipments.c.order_id == order.id, shipments.c.status != "cancelled"))))  # not the parcels an edit replaced
    target = status_after_shipment(sum(1 for s in statuses if s.shipped_at), len(statuses))
    captured = await ledger.captured_by_key(conn, [f"{shipment_id}:capture"])  # what was taken, not the share
    await order_store.append_event(
        conn, order.id, f"{shipment_id}:shipped", "shipment.shipped", to_status=target,
        data={"shipment_id": shipment_id, "tracking_code": shipment.tracking_code, "carrier": shipment.carrier,
              "captured": captured.get(f"{shipment_id}:capture", 0)},
    )
    return target


async def record_tracking(conn: AsyncConnection, shipment_id: str, event: TrackingEvent) -> bool:
    """Store a carrier event once; returns False for a duplicate delivery."""
    inserted = await conn.execute(
        insert(shipment_events).values(shipment_id=shipment_id, event_id=event.event_id, status=event.status,
                                       occurred_at=event.occurred_at, detail=event.detail)
        .on_conflict_do_nothing().returning(shipment_events.c.event_id)
    )
    if inserted.first() is None:
        return False
    shipment = await shipment_row(conn, shipment_id, lock=True)
    if event.status == "delivered" and shipment.delivered_at is None:
        await set_status(conn, shipment_id, "delivered", delivered_at=event.occurred_at)
        await order_store.append_event(conn, shipment.order_id, f"{shipment_id}:delivered", "shipment.delivered",
                                       data={"shipment_id": shipment_id, "at": event.occurred_at.isoformat()})
    elif event.status in ("in_transit", "out_for_delivery") and shipment.status == "shipped":
        await set_status(conn, shipment_id, "in_transit")
    return True


async def shipment_for_tracking_code(conn: AsyncConnection, tracking_code: str):
    return (await conn.execute(select(shipments).where(shipments.c.tracking_code == tracking_code))).first()


async def shipments_view(conn: AsyncConnection, order_id: str) -> list[dict]:
    rows = list(await conn.execute(select(shipments).where(shipments.c.order_id == order_id)
                                   .order_by(shipments.c.created_at, shipments.c.id)))
    items = await conn.execute(select(shipment_items).where(shipment_items.c.shipment_id.in_([r.id for r in rows])))
    by_shipment: dict[str, list] = {}
    for item in items:
        by_shipment.setdefault(item.shipment_id, []).append({"sku": item.sku, "quantity": item.quantity})
    keys = [f"{r.id}:capture" for r in rows]
    captured = await ledger.captured_by_key(conn, keys)
    attempted = set((await conn.execute(select(payment_operations.c.idempotency_key).where(and_(
        payment_operations.c.idempotency_key.in_(keys), payment_operations.c.kind == "capture")))).scalars())
    return [{**r._asdict(), "items": sorted(by_shipment.get(r.id, []), key=lambda i: i["sku"]),
             "captured": _shown_captured(r, captured, attempted)} for r in rows]


def _shown_captured(shipment, captured: dict[str, int], attempted: set[str]) -> int | None:
    """What the ledger says this parcel's capture took: None before its capture was planned, 0 when it took
    nothing (refused, its share then released; or the whole order was captured with another parcel)."""
    key = f"{shipment.id}:capture"
    if key in captured:
        return captured[key]
    return 0 if key in attempted or shipment.capture_amount is not None else None


async def cancel_unshipped(conn: AsyncConnection, order_id: str) -> list[str]:
    """Mark shipments that never left as cancelled; returns their ids (their labels need refunds)."""
    rows = await conn.execute(
        update(shipments).where(and_(shipments.c.order_id == order_id, shipments.c.shipped_at.is_(None)))
        .values(status="cancelled", updated_at=func.now()).returning(shipments.c.id)
    )
    return list(rows.scalars())
