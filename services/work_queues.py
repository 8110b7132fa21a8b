"""Work queues: what waits for a person, per role (rules: models/work_queues.py, queries: db/work_queues.py), and
support marking an order's alerts resolved. The JSON routes and the console answer from these."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from config import Settings
from db import audit
from db import orders as order_store
from db import work_queues as store
from models.auth import Caller
from models.work_queues import MAX_ITEMS, QueueSummary, WorkItem, check_queue, queues_for, work_item
from services.deps import Deps

# Only these queues' items time out by themselves; a console flags how many are about to.
EXPIRING_QUEUES = ("fraud_review", "returns_to_decide")


@dataclass(frozen=True)
class ResolveOrderAlerts:
    order_id: str
    note: str
    caller: Caller


def lifetimes(settings: Settings) -> dict[str, timedelta]:
    """How long an item of each queue waits before it times out by itself (queues absent here never do)."""
    return {"fraud_review": timedelta(seconds=settings.fraud_review_timeout_seconds),
            "returns_to_decide": timedelta(days=settings.return_approval_days)}


async def summaries(conn, role: str) -> list[QueueSummary]:
    """The role's queues with how many items wait and since when the oldest does."""
    listed = []
    for queue in queues_for(role):
        count, oldest = await store.summary(conn, queue)
        listed.append(QueueSummary(queue=queue, count=count, oldest_at=oldest))
    return listed


async def items(conn, settings: Settings, queue: str, role: str, limit: int = MAX_ITEMS) -> list[WorkItem]:
    """The queue's items, oldest first, with their expiry flags; ``queue_not_found`` outside the role."""
    check_queue(queue, role)
    now, lifetime = datetime.now(UTC), lifetimes(settings).get(queue)
    return [work_item(queue, row, now=now, lifetime=lifetime,
                      warn_within=timedelta(seconds=settings.work_queue_expiring_soon_seconds),
                      ui_base=settings.temporal_ui_url, namespace=settings.temporal_namespace)
            for row in await store.items(conn, queue, limit)]


async def resolve_order_alerts(deps: Deps, command: ResolveOrderAlerts) -> None:
    """Someone finished by hand what the order's alerts asked for: it leaves `orders_needing_attention` (a later
    alert brings it back). Audited."""
    order_id = command.order_id
    async with deps.engine.begin() as conn:
        await order_store.get_order(conn, order_id)  # NotFound for unknown orders
        await order_store.append_event(conn, order_id, f"{order_id}:alert_resolved:{datetime.now(UTC).isoformat()}",
                                       "order.alert_resolved", data={"by": command.caller.label, "note": command.note})
        await audit.record(conn, command.caller, "order.alerts_resolved", order_id=order_id, reason=command.note)
