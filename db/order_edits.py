"""Order edits in the database: the order's lines and parcels as an edit sees them, and applying an edit in
one transaction under the order's row lock (lines, totals, payment, stock and the re-planned parcels)."""

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db import fulfillment as fulfillment_store
from db import inventory
from db import orders as order_store
from db import payments as ledger
from db.tables import (
    audit_log, order_events, order_lines, orders, prices, products, reservations, shipment_items, shipments, variants,
)
from models import workflow_ids
from models.customer_emails import OrderEditedNotice
from models.errors import Conflict, DomainError, NotFound
from models.ids import public_id
from models.order_edits import EditAuthorization, EditedLine, EditOutcome, EditPlan, check_parcels, replan
from models.notifications import ShipmentItem
from models.order_state import OrderStatus


def edit_event_id(edit_id: str) -> str:
    return f"edit:{edit_id}"


def edit_hold_key(order_id: str, edit_id: str) -> str:
    """The stock an edit adds is held under this key until the edit is applied (or released)."""
    return f"{order_id}:edit:{edit_id}"


async def applied_edit(conn: AsyncConnection, order_id: str, edit_id: str) -> dict | None:
    """The recorded edit's event data (request hash, before/after, outcome), or None if not applied."""
    row = (await conn.execute(select(order_events.c.data).where(and_(
        order_events.c.order_id == order_id, order_events.c.event_id == edit_event_id(edit_id))))).first()
    return row.data if row is not None else None


async def cancelled_by_edit(conn: AsyncConnection, order_id: str, edit_id: str) -> bool:
    """Whether an edit that removed every line (a cancel) was made under this edit id."""
    found = await conn.execute(select(audit_log.c.id).where(and_(
        audit_log.c.order_id == order_id, audit_log.c.action == "order.cancel",
        audit_log.c.details["edit_id"].astext == edit_id)))
    return found.first() is not None


async def lines_of(conn: AsyncConnection, order_id: str) -> list[EditedLine]:
    rows = await conn.execute(
        select(order_lines, variants.c.weight_grams).outerjoin(variants, variants.c.sku == order_lines.c.sku)
        .where(order_lines.c.order_id == order_id).order_by(order_lines.c.sku))
    return [EditedLine(sku=r.sku, title=r.title, quantity=r.quantity, unit_price=r.unit_price, discount=r.discount,
                       tax=r.tax, weight_grams=r.weight_grams or 0, tax_code=r.tax_code) for r in rows]


async def sellable_lines(conn: AsyncConnection, skus: list[str], currency: str) -> dict[str, EditedLine]:
    """New SKUs at today's base price in ``currency`` (one unit each); unknown or unsellable SKUs are missing."""
    if not skus:
        return {}
    rows = await conn.execute(
        select(variants.c.sku, variants.c.title, variants.c.weight_grams,
               variants.c.tax_code.label("variant_tax_code"), products.c.tax_code, prices.c.amount)
        .join(products, products.c.id == variants.c.product_id)
        .join(prices, and_(prices.c.variant_id == variants.c.id, prices.c.currency == currency))
        .where(and_(variants.c.sku.in_(skus), variants.c.status == "active", products.c.status == "active")))
    return {r.sku: EditedLine(sku=r.sku, title=r.title, quantity=1, unit_price=r.amount, weight_grams=r.weight_grams,
                              tax_code=r.variant_tax_code or r.tax_code) for r in rows}


async def parcels_of(conn: AsyncConnection, order_id: str) -> list[dict]:
    rows = list(await conn.execute(select(shipments).where(shipments.c.order_id == order_id)
                                   .order_by(shipments.c.created_at, shipments.c.id)))
    items = await conn.execute(select(shipment_items).where(shipment_items.c.shipment_id.in_([r.id for r in rows])))
    by_parcel: dict[str, dict[str, int]] = {}
    for item in items:
        by_parcel.setdefault(item.shipment_id, {})[item.sku] = item.quantity
    return [{"id": r.id, "status": r.status, "location_id": r.location_id, "shipped_at": r.shipped_at,
             "capture_amount": r.capture_amount, "items": by_parcel.get(r.id, {})} for r in rows]


async def apply(conn: AsyncConnection, plan: EditPlan, authorization: EditAuthorization | None) -> EditOutcome:
    """Apply a planned edit, or answer the outcome it had (idempotent per edit id).

    Under the order's row lock (which captures and cancels take too) it re-checks what the plan assumed:
    the order is not cancelled, nothing more was captured, no touched parcel left the plan."""
    order = await fulfillment_store.order_row(conn, plan.order_id, lock=True)
    if (done := await applied_edit(conn, plan.order_id, plan.edit_id)) is not None:
        return EditOutcome.model_validate(done["outcome"])
    if order.status == OrderStatus.CANCELLED:
        raise Conflict(f"order {plan.order_id} was cancelled", code="order_cancelled")
    if (await ledger.totals(conn, order.payment_ref)).captured != plan.captured:
        raise Conflict("a parcel captured payment while the edit was prepared; try the edit again",
                       code="order_changed")
    parcels = await parcels_of(conn, plan.order_id)
    if await _capture_in_flight(conn, parcels):
        raise Conflict("a parcel is capturing payment right now; try the edit again in a moment",
                       code="order_changed")
    check_parcels(parcels, plan.changed_skus, plan.address_changed)
    outcome = await _replan_stock(conn, plan, parcels)
    await _write_lines(conn, plan)
    await conn.execute(update(orders).where(orders.c.id == plan.order_id).values(**_order_values(plan, authorization)))
    await order_store.append_event(conn, plan.order_id, edit_event_id(plan.edit_id), "order.edited", data={
        "actor": plan.actor, "reason": plan.reason, "request_hash": plan.request_hash, "currency": plan.currency,
        "before": plan.before.model_dump(mode="json"), "after": plan.after.model_dump(mode="json"),
        "payment": plan.payment.model_dump(mode="json"),
        "authorization": authorization.model_dump(mode="json") if authorization else None,
        "outcome": outcome.model_dump(mode="json")})
    return outcome


async def _capture_in_flight(conn: AsyncConnection, parcels: list[dict]) -> bool:
    """A parcel fixed its capture share (under this lock) but its capture is not in the ledger yet: the
    total it captures against was read before, so the edit waits for it."""
    for parcel in parcels:
        if parcel["status"] != "cancelled" and parcel["capture_amount"] is not None:
            if await ledger.operation(conn, f"{parcel['id']}:capture") is None:
                return True
    return False


async def _replan_stock(conn: AsyncConnection, plan: EditPlan, parcels: list[dict]) -> EditOutcome:
    """Dissolve the unpacked parcels holding a changed SKU and allocate what remains of them, plus the edit's
    new hold, into one new parcel per location. Removed units return to ATP; nothing else moves."""
    holds = list(await conn.execute(
        select(reservations).where(reservations.c.reservation_key == edit_hold_key(plan.order_id, plan.edit_id))
        .order_by(reservations.c.sku, reservations.c.location_id).with_for_update()))
    if sum(h.quantity for h in holds if h.status == "active") != sum(plan.added_units.values()):
        raise DomainError("the stock held for this edit is gone (expired); try the edit again",
                          code="reservation_expired")
    holds = [h for h in holds if h.status == "active"]
    dissolved, planned = replan(parcels, plan.removed_units, [(h.sku, h.location_id, h.quantity) for h in holds],
                                plan.changed_skus)
    allocations = list(await conn.execute(
        select(reservations).where(and_(reservations.c.reservation_key.in_(dissolved),
                                        reservations.c.status == "allocated"))
        .order_by(reservations.c.sku, reservations.c.location_id).with_for_update()))
    await inventory.lock_levels(conn, sorted({r.sku for r in [*holds, *allocations]}))
    await inventory.release_rows(conn, [*allocations, *holds], status="released", reason="edit")
    if dissolved:
        await conn.execute(update(shipments).where(shipments.c.id.in_(dissolved)).values(status="cancelled"))
    created = []
    for location_id, items in planned.items():
        shipment_id = public_id("shipment")
        await conn.execute(shipments.insert().values(id=shipment_id, order_id=plan.order_id, location_id=location_id,
                                                     workflow_id=workflow_ids.shipment(shipment_id)))
        for sku, quantity in sorted(items.items()):
            await conn.execute(shipment_items.insert().values(shipment_id=shipment_id, sku=sku, quantity=quantity))
        await inventory.hold(conn, shipment_id, [(sku, location_id, q) for sku, q in sorted(items.items())],
                             status="allocated", order_id=plan.order_id, reason="edit")
        created.append(shipment_id)
    return EditOutcome(edit_id=plan.edit_id, dissolved_shipments=dissolved, new_shipments=created)


async def _write_lines(conn: AsyncConnection, plan: EditPlan) -> None:
    after = {line.sku: line for line in plan.after.lines}
    await conn.execute(delete(order_lines).where(and_(order_lines.c.order_id == plan.order_id,
                                                      order_lines.c.sku.not_in(list(after)))))
    existing = {line.sku for line in plan.before.lines}
    for line in plan.after.lines:
        values = {"quantity": line.quantity, "unit_price": line.unit_price, "discount": line.discount,
                  "tax": line.tax, "line_total": line.line_total}
        if line.sku in existing:
            await conn.execute(update(order_lines).where(and_(order_lines.c.order_id == plan.order_id,
                                                              order_lines.c.sku == line.sku)).values(**values))
        else:
            await conn.execute(order_lines.insert().values(id=public_id("order_line"), order_id=plan.order_id,
                                                           sku=line.sku, title=line.title, tax_code=line.tax_code,
                                                           **values))


def _order_values(plan: EditPlan, authorization: EditAuthorization | None) -> dict:
    after = plan.after
    values = {"subtotal": after.subtotal, "discount_total": after.discount_total, "tax_total": after.tax_total,
              "shipping_total": after.shipping_total, "total": after.total,
              "shipping_address": after.shipping_address.model_dump(mode="json"),
              "shipping_method": plan.shipping_method}
    if authorization is not None:
        values.update(payment_ref=authorization.payment_ref, authorization_id=authorization.authorization_id,
                      authorized_amount=authorization.amount, multicapture=authorization.multicapture)
    return values


async def edit_notice(conn: AsyncConnection, order_id: str, edit_id: str) -> OrderEditedNotice:
    """What the customer is told about an applied edit (its event's after-state)."""
    order = await fulfillment_store.order_row(conn, order_id)
    edit = await applied_edit(conn, order_id, edit_id)
    if edit is None:
        raise NotFound(f"edit {edit_id} of order {order_id} not found", code="edit_not_found")
    after, address = edit["after"], edit["after"]["shipping_address"]
    where = ", ".join(part for part in (address["name"], address["line1"], address.get("line2"), address["city"],
                                        address.get("region"), address["postal_code"], address["country"]) if part)
    return OrderEditedNotice(
        order_id=order_id, edit_id=edit_id, email=order.email, customer_name=address["name"],
        currency=order.currency, previous_total=edit["before"]["total"], total=after["total"], shipping_address=where,
        items=[ShipmentItem(sku=line["sku"], title=line["title"], quantity=line["quantity"]) for line in after["lines"]])
