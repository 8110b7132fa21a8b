"""structlog JSON logging for our code and for stdlib loggers (temporalio, uvicorn) alike."""

import logging
import sys

import structlog
from temporalio import activity


def _temporal_context(_, __, event_dict: dict) -> dict:
    """Lift Temporal's ``extra`` dicts (workflow/activity info) into top-level ids."""
    record = event_dict.get("_record")
    for attr in ("temporal_workflow", "temporal_activity"):
        info = getattr(record, attr, None) if record is not None else None
        if isinstance(info, dict):
            for key in ("workflow_id", "workflow_type", "run_id", "activity_type", "attempt"):
                if key in info:
                    event_dict.setdefault(key, info[key])
    return event_dict


def _activity_context(_, __, event_dict: dict) -> dict:
    """Inside an activity, every log line carries the workflow and activity it serves."""
    if activity.in_activity():
        info = activity.info()
        event_dict.setdefault("workflow_id", info.workflow_id)
        event_dict.setdefault("activity_type", info.activity_type)
        event_dict.setdefault("attempt", info.attempt)
    return event_dict


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        _activity_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _temporal_context],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
