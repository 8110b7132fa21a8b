"""The local carrier reporting tracking on its own, as EasyPost does: ``orderflow simulate carrier``,
which ``orderflow dev`` runs beside the API.

Durable without state of its own: every poll derives what is due from the database (when each
local parcel shipped, LOCAL_CARRIER_SCHEDULE, the address) and what was delivered from the API's
webhook inbox, so after a restart, or while the API was down, it sends what is still missing and
nothing twice. It never runs outside development (``simulate.commands``).
"""

import asyncio
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.local.shipping import CARRIER, tracking_plan
from db.tables import orders, shipments, webhook_inbox
from simulate.webhooks import Sent, WebhookSender
from simulate.world import tracking_event_id

POLL_SECONDS = 1.0
log = structlog.get_logger("orderflow.simulate.carrier")


async def due_updates(engine: AsyncEngine, schedule: dict[str, float], now: datetime) -> list[tuple]:
    """(shipment_id, tracking_code, status, when) the carrier should have reported by ``now`` and the
    API has not accepted yet, in the order to send them."""
    async with engine.connect() as conn:
        parcels = list(await conn.execute(
            select(shipments.c.id, shipments.c.tracking_code, shipments.c.shipped_at, orders.c.shipping_address)
            .join(orders, orders.c.id == shipments.c.order_id)
            .where(shipments.c.carrier == CARRIER, shipments.c.shipped_at.is_not(None),
                   shipments.c.delivered_at.is_(None), shipments.c.tracking_code.is_not(None))
            .order_by(shipments.c.shipped_at)))
        due = [(parcel.id, parcel.tracking_code, status, parcel.shipped_at + timedelta(seconds=seconds))
               for parcel in parcels for status, seconds in tracking_plan(parcel.shipping_address, schedule)
               if parcel.shipped_at + timedelta(seconds=seconds) <= now]
        accepted = set((await conn.execute(select(webhook_inbox.c.event_id).where(
            webhook_inbox.c.provider == "easypost",
            webhook_inbox.c.event_id.in_([tracking_event_id(code, status) for _, code, status, _ in due])))).scalars())
    return [update for update in due if tracking_event_id(update[1], update[2]) not in accepted]


async def advance_parcels(engine: AsyncEngine, sender: WebhookSender, schedule: dict[str, float],
                          now: datetime | None = None) -> list[Sent]:
    """Send every due update once; a parcel whose update the API refused waits for the next round."""
    sent, held_back = [], set()
    for shipment_id, code, status, when in await due_updates(engine, schedule, now or datetime.now(UTC)):
        if shipment_id in held_back:
            continue  # its earlier status must arrive first
        delivery = await sender.tracking(code, status, tracking_event_id(code, status), shipment_id, when)
        sent.append(delivery)
        if not delivery.accepted:
            held_back.add(shipment_id)
    return sent


async def run_carrier(engine: AsyncEngine, sender: WebhookSender, schedule: dict[str, float],
                      poll_seconds: float = POLL_SECONDS) -> None:
    log.info("local carrier reports tracking", schedule=schedule)
    while True:
        try:
            for delivery in await advance_parcels(engine, sender, schedule):
                (log.info if delivery.accepted else log.warning)(
                    "tracking webhook sent", shipment_id=delivery.subject, tracking=delivery.event_type,
                    event_id=delivery.event_id, http_status=delivery.status_code, answer=delivery.answer)
        except Exception as error:  # noqa: BLE001  the API or database restarting: try again next round
            log.warning("local carrier round failed", error=f"{type(error).__name__}: {error}")
        await asyncio.sleep(poll_seconds)
