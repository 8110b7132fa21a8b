"""Work queues: what waits for a person (fraud reviews, return decisions, parcels to pack, …), oldest first,
each item linked to its order and to its workflow in the Temporal UI. A role sees the queues it may work."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import CurrentCaller
from api.deps import AppSettings, Engine, ReadConn
from api.schemas import ErrorResponse, Strict
from config import Settings
from db import audit
from db import orders as order_store
from db import work_queues as store
from models.work_queues import MAX_ITEMS, QueueSummary, WorkItem, check_queue, queues_for, work_item

router = APIRouter(tags=["work queues"])


def _lifetimes(settings: Settings) -> dict[str, timedelta]:
    """How long an item of each queue waits before it times out by itself (queues absent here never do)."""
    return {"fraud_review": timedelta(seconds=settings.fraud_review_timeout_seconds),
            "returns_to_decide": timedelta(days=settings.return_approval_days)}


@router.get("/work-queues", response_model=list[QueueSummary])
async def list_queues(conn: ReadConn, caller: CurrentCaller) -> list[QueueSummary]:
    """The caller's queues with how many items wait and since when the oldest does."""
    summaries = []
    for queue in queues_for(caller.role):
        count, oldest = await store.summary(conn, queue)
        summaries.append(QueueSummary(queue=queue, count=count, oldest_at=oldest))
    return summaries


@router.get("/work-queues/{queue}", response_model=list[WorkItem], responses={404: {"model": ErrorResponse}})
async def queue_items(queue: str, conn: ReadConn, caller: CurrentCaller, settings: AppSettings,
                      limit: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 100) -> list[WorkItem]:
    """Oldest first. Fraud reviews and return decisions carry ``expires_at`` and ``expiring_soon`` (within
    WORK_QUEUE_EXPIRING_SOON_SECONDS)."""
    check_queue(queue, caller.role)
    now, lifetime = datetime.now(UTC), _lifetimes(settings).get(queue)
    return [work_item(queue, row, now=now, lifetime=lifetime,
                      warn_within=timedelta(seconds=settings.work_queue_expiring_soon_seconds),
                      ui_base=settings.temporal_ui_url, namespace=settings.temporal_namespace)
            for row in await store.items(conn, queue, limit)]


class Resolution(Strict):
    note: str = ""


@router.post("/orders/{order_id}/alerts/resolve", status_code=204, responses={404: {"model": ErrorResponse}})
async def resolve_order_alerts(order_id: str, body: Resolution, engine: Engine, caller: CurrentCaller) -> None:
    """Someone finished by hand what the order's alerts asked for: it leaves `orders_needing_attention`
    (a later alert brings it back). Audited."""
    async with engine.begin() as conn:
        await order_store.get_order(conn, order_id)  # 404 for unknown orders
        await order_store.append_event(conn, order_id, f"{order_id}:alert_resolved:{datetime.now(UTC).isoformat()}",
                                       "order.alert_resolved", data={"by": caller.label, "note": body.note})
        await audit.record(conn, caller, "order.alerts_resolved", order_id=order_id, reason=body.note)
