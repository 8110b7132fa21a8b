"""Where a bench phase's workflows spent their time, read from their histories.

Each history splits into: waiting for a worker to pick up a workflow task (``wft queue``: the task
queue's backlog, poller and server latency), running workflow tasks (``wft run``: the worker's workflow
code, local activities included), waiting for a worker to pick up an activity (``activity queue``),
running activities (``activity run``) and the rest (``server/other``: what the server takes between an
answer and the next task, and timers). Means per workflow, in milliseconds, so that a checkout and the
bare floor compare step by step.
"""

from collections import defaultdict
from datetime import datetime

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

E = EventType
SPANS = {  # part: (event that opens it, event that closes it)
    "wft queue": (E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, E.EVENT_TYPE_WORKFLOW_TASK_STARTED),
    "wft run": (E.EVENT_TYPE_WORKFLOW_TASK_STARTED, E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
    "activity queue": (E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, E.EVENT_TYPE_ACTIVITY_TASK_STARTED),
    "activity run": (E.EVENT_TYPE_ACTIVITY_TASK_STARTED, E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
}
PARTS = [*SPANS, "server/other"]


def _when(event) -> datetime:
    return event.event_time.ToDatetime()


def split(events) -> dict[str, float]:
    """Seconds per part of one workflow's history (pairs events in order; activities by scheduled id)."""
    parts, opened = defaultdict(float), {}
    for event in events:
        for part, (start, end) in SPANS.items():
            if event.event_type == start:
                opened[(part, event.event_id)] = _when(event)
            elif event.event_type == end:
                begun = _opening_id(event, part)
                if (part, begun) in opened:
                    parts[part] += (_when(event) - opened.pop((part, begun))).total_seconds()
    parts["server/other"] = (_when(events[-1]) - _when(events[0])).total_seconds() - sum(parts.values())
    return parts


def _opening_id(event, part: str) -> int:
    if part == "wft queue" or part == "wft run":
        attrs = (event.workflow_task_started_event_attributes if part == "wft queue"
                 else event.workflow_task_completed_event_attributes)
        return attrs.scheduled_event_id if part == "wft queue" else attrs.started_event_id
    if part == "activity queue":
        return event.activity_task_started_event_attributes.scheduled_event_id
    return event.activity_task_completed_event_attributes.started_event_id


async def breakdown(client: Client, workflow_ids: list[str]) -> dict[str, float]:
    """Mean milliseconds per part over ``workflow_ids``, plus ``workflow`` (start to close) and ``count``."""
    totals, count = defaultdict(float), 0
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        events = list(history.events)
        for part, seconds in split(events).items():
            totals[part] += seconds
        totals["workflow"] += (_when(events[-1]) - _when(events[0])).total_seconds()
        count += 1
    means = {part: 1000 * totals[part] / max(count, 1) for part in ["workflow", *PARTS]}
    means["count"] = count
    return means


def line(label: str, means: dict[str, float]) -> str:
    return f"  {label:<10} ms/workflow: " + "  ".join(f"{part} {means[part]:.0f}" for part in ["workflow", *PARTS])
