"""Work queues: what waits for a person (fraud reviews, return decisions, parcels to pack, …), oldest first,
each item linked to its order and to its workflow in the Temporal UI. A role sees the queues it may work."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import CurrentCaller
from api.deps import AppSettings, ReadConn, Services
from api.schemas import ErrorResponse, Strict
from models.work_queues import MAX_ITEMS, QueueSummary, WorkItem
from services import work_queues

router = APIRouter(tags=["work queues"])


@router.get("/work-queues", response_model=list[QueueSummary])
async def list_queues(conn: ReadConn, caller: CurrentCaller) -> list[QueueSummary]:
    """The caller's queues with how many items wait and since when the oldest does."""
    return await work_queues.summaries(conn, caller.role)


@router.get("/work-queues/{queue}", response_model=list[WorkItem], responses={404: {"model": ErrorResponse}})
async def queue_items(queue: str, conn: ReadConn, caller: CurrentCaller, settings: AppSettings,
                      limit: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 100) -> list[WorkItem]:
    """Oldest first. Fraud reviews and return decisions carry ``expires_at`` and ``expiring_soon`` (within
    WORK_QUEUE_EXPIRING_SOON_SECONDS)."""
    return await work_queues.items(conn, settings, queue, caller.role, limit)


class Resolution(Strict):
    note: str = ""


@router.post("/orders/{order_id}/alerts/resolve", status_code=204, responses={404: {"model": ErrorResponse}})
async def resolve_order_alerts(order_id: str, body: Resolution, services: Services, caller: CurrentCaller) -> None:
    """Someone finished by hand what the order's alerts asked for: it leaves `orders_needing_attention`
    (a later alert brings it back). Audited."""
    await work_queues.resolve_order_alerts(services, work_queues.ResolveOrderAlerts(
        order_id=order_id, note=body.note, caller=caller))
