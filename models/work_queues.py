"""Work queues: what is waiting for a person, by job. Pure rules (no I/O, no clock: ``now`` comes in).

Each queue belongs to the permission of its action, so a role sees only the queues it can work: a
packer sees parcels and returns to receive, a support clerk fraud reviews and return decisions. Items
that time out by themselves (a fraud review fails the checkout, an undecided return expires) carry
their ``expires_at`` and are flagged ``expiring_soon`` before it comes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote

from pydantic import BaseModel, Field

from models.auth import Permission, permissions
from models.errors import NotFound

P = Permission

# Queue -> the permission its action needs, in the order a console shows them.
QUEUES: dict[str, Permission] = {
    "fraud_review": P.ORDERS_SUPPORT,
    "returns_to_decide": P.ORDERS_SUPPORT,
    "returns_needing_attention": P.ORDERS_SUPPORT,
    "returns_to_receive": P.WAREHOUSE,
    "returns_to_inspect": P.WAREHOUSE,
    "parcels_to_pack": P.WAREHOUSE,
    "parcel_alerts": P.WAREHOUSE,
    "orders_needing_attention": P.ORDERS_SUPPORT,
    "low_stock": P.INVENTORY_ADMIN,
}
MAX_ITEMS = 500

# What a person calls each queue (console headings); every queue has one (tests/unit/test_work_queues.py).
QUEUE_TITLES: dict[str, str] = {
    "fraud_review": "Fraud reviews",
    "returns_to_decide": "Returns to decide",
    "returns_needing_attention": "Returns needing attention",
    "returns_to_receive": "Returns to receive",
    "returns_to_inspect": "Returns to inspect",
    "parcels_to_pack": "Parcels to pack",
    "parcel_alerts": "Parcel alerts",
    "orders_needing_attention": "Orders needing attention",
    "low_stock": "Low stock",
}


class QueueSummary(BaseModel):
    queue: str
    count: int
    oldest_at: datetime | None = Field(description="When the oldest item started waiting")


class WorkItem(BaseModel):
    id: str = Field(description="The checkout, return, shipment, order or low-stock alert waiting")
    since: datetime = Field(description="Waiting since")
    summary: str
    url: str = Field(description="The API resource to act on")
    order_id: str | None = None
    order_url: str | None = None
    workflow_id: str | None = None
    workflow_url: str | None = Field(None, description="The workflow in the Temporal UI")
    expires_at: datetime | None = Field(None, description="When it times out by itself if nobody acts")
    expiring_soon: bool = False
    details: dict = {}


def queues_for(role: str) -> list[str]:
    """The queues ``role`` may work, in display order."""
    granted = permissions(role)
    return [queue for queue, needed in QUEUES.items() if needed in granted]


def check_queue(queue: str, role: str) -> None:
    """An unknown queue, or one the role may not work, is ``queue_not_found`` (it does not exist for them)."""
    if queue not in queues_for(role):
        raise NotFound(f"no work queue {queue!r}", code="queue_not_found",
                       details={"queues": queues_for(role)})


def workflow_url(ui_base: str, namespace: str, workflow_id: str) -> str:
    return f"{ui_base.rstrip('/')}/namespaces/{quote(namespace, safe='')}/workflows/{quote(workflow_id, safe='')}"


def expiry(since: datetime, lifetime: timedelta | None, now: datetime,
           warn_within: timedelta) -> tuple[datetime | None, bool]:
    """(when the item times out, whether that is within ``warn_within`` of ``now``); (None, False) if it never does."""
    if lifetime is None:
        return None, False
    expires_at = since + lifetime
    return expires_at, expires_at - now <= warn_within


def _summary(queue: str, d: dict) -> str:
    match queue:
        case "fraud_review":
            return f"checkout of {d.get('total')} {d.get('currency')} scored {d.get('score')}: " \
                   f"{', '.join(d.get('reasons') or []) or 'no reason given'}"
        case "returns_to_decide" | "returns_to_receive" | "returns_to_inspect" | "returns_needing_attention":
            units = sum(int(line.get("quantity", 0)) for line in d.get("lines") or [])
            return f"{units} unit(s){' for an exchange' if d.get('exchange') else ''}, return {d.get('status')}"
        case "parcels_to_pack":
            return f"parcel of {d.get('units')} unit(s) at {d.get('location')}"
        case "parcel_alerts" | "orders_needing_attention":
            return str(d.get("alert"))
        case "low_stock":
            return f"{d.get('sku')}: {d.get('atp')} available, reorder point {d.get('reorder_point')}"
    return queue


def _url(queue: str, item_id: str, d: dict) -> str:
    match queue:
        case "fraud_review":
            return f"/checkouts/{item_id}"
        case "returns_to_decide" | "returns_to_receive" | "returns_to_inspect" | "returns_needing_attention":
            return f"/returns/{item_id}"
        case "low_stock":
            return f"/inventory/{d.get('sku')}"
        case "orders_needing_attention":
            return f"/orders/{item_id}"
    return f"/orders/{d.get('order_id')}"  # parcels: acted on with /shipments/{id}/…, read through their order


def work_item(queue: str, row: dict, *, now: datetime, lifetime: timedelta | None, warn_within: timedelta,
              ui_base: str, namespace: str) -> WorkItem:
    """row: {id, since, order_id, workflow_id, details} as db.work_queues reads it."""
    expires_at, soon = expiry(row["since"], lifetime, now, warn_within)
    details = dict(row["details"] or {})
    order_id, workflow_id = row.get("order_id"), row.get("workflow_id")
    return WorkItem(id=row["id"], since=row["since"], summary=_summary(queue, details),
                    url=_url(queue, row["id"], {**details, "order_id": order_id}), order_id=order_id,
                    order_url=f"/orders/{order_id}" if order_id else None, workflow_id=workflow_id,
                    workflow_url=workflow_url(ui_base, namespace, workflow_id) if workflow_id else None,
                    expires_at=expires_at, expiring_soon=soon, details=details)
