"""What the warehouse prints (models/packing.py): a parcel's packing slip, a location's pick list."""

from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import locations, order_lines, orders, shipment_items, shipments
from models.commerce import Address
from models.errors import NotFound
from models.packing import PackedItem, PackingSlip, PickList, pick_list

PICKABLE = ("pending_pack",)


def _items_with_titles():
    # A parcel's item is an order line's SKU: the title comes from the line as ordered.
    return (select(shipment_items.c.shipment_id, shipment_items.c.sku, order_lines.c.title, shipment_items.c.quantity)
            .join(shipments, shipments.c.id == shipment_items.c.shipment_id)
            .join(order_lines, and_(order_lines.c.order_id == shipments.c.order_id,
                                    order_lines.c.sku == shipment_items.c.sku)))


async def packing_slip(conn: AsyncConnection, shipment_id: str) -> PackingSlip:
    found = (await conn.execute(
        select(shipments.c.id, shipments.c.order_id, orders.c.created_at, orders.c.shipping_address,
               locations.c.code)
        .join(orders, orders.c.id == shipments.c.order_id).join(locations, locations.c.id == shipments.c.location_id)
        .where(shipments.c.id == shipment_id))).first()
    if found is None:
        raise NotFound(f"shipment {shipment_id} not found", code="shipment_not_found")
    items = await conn.execute(_items_with_titles().where(shipment_items.c.shipment_id == shipment_id)
                               .order_by(shipment_items.c.sku))
    return PackingSlip(shipment_id=found.id, order_id=found.order_id, order_date=found.created_at,
                       location_code=found.code, ship_to=Address.model_validate(found.shipping_address),
                       items=[PackedItem(sku=row.sku, title=row.title, quantity=row.quantity) for row in items])


async def pick_list_for(conn: AsyncConnection, location_code: str, printed_at: datetime) -> PickList:
    """Every parcel at the location still waiting to be packed."""
    if (await conn.execute(select(locations.c.id).where(locations.c.code == location_code))).first() is None:
        raise NotFound(f"location {location_code} not found", code="location_not_found")
    rows = await conn.execute(_items_with_titles().join(locations, locations.c.id == shipments.c.location_id)
                              .where(and_(locations.c.code == location_code, shipments.c.status.in_(PICKABLE))))
    return pick_list(location_code, printed_at, [tuple(row) for row in rows])
