"""Calling workflows from a handler, with no database transaction held.

``execute``: a validated update; a validator or handler refusal (ApplicationError with a type) becomes a
409 — or a 422 for codes that mean "your input is wrong" — and a workflow that has ended becomes ``closed()``.

``start_claimed``: the start of a claimed row's workflow, after the claim committed (db/claims.py).
"""

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from db import claims
from services.deps import Deps
from services.errors import Refused

log = structlog.get_logger("orderflow.services.workflow_calls")
START_RETRY_AFTER_SECONDS = 2
UPDATE_ANSWER_SECONDS = 30  # beyond this a caller (support, by phone) is better told to retry than kept waiting


def refusal(error: WorkflowUpdateFailedError, unprocessable: set[str]) -> Refused:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return Refused(422 if cause.type in unprocessable else 409, cause.type, cause.message)
    raise error


async def execute(handle: WorkflowHandle, update, *args, unprocessable: set[str] = frozenset(),
                  closed: Callable[[], Refused], update_id: str | None = None,
                  answer_within: float = UPDATE_ANSWER_SECONDS):
    """``update_id``: the same id while the workflow runs is the same update (a concurrent repeat waits for it).
    With an id, the caller waits at most ``answer_within`` seconds: an update still running (a step whose answer
    is lost keeps retrying) answers ``503 update_in_progress``, and a retry with the same key waits on the same
    update instead of holding a request open without end."""
    try:
        call = handle.execute_update(update, *args, id=update_id)
        if update_id is None:
            return await call
        return await asyncio.wait_for(call, answer_within)
    except TimeoutError as error:
        raise Refused(503, "update_in_progress", "this change is still being applied; retry with the same "
                      "Idempotency-Key for its outcome",
                      headers={"Retry-After": str(START_RETRY_AFTER_SECONDS)}) from error
    except WorkflowUpdateFailedError as error:
        raise refusal(error, unprocessable) from error
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise closed() from error
        raise


async def start_claimed(deps: Deps, kind: str, row_id: str, version: str, workflow_id: str,
                        start: Awaitable) -> None:
    """Await ``start`` (the workflow's start under its id derived from the claim); found started, by an
    earlier attempt or a concurrent retry, is success. When it fails the claim is released if Temporal
    says the workflow does not exist, so nothing records a thing that never started, and the client is
    asked to retry with the same key (``503 workflow_start_failed``): the retry claims and starts afresh,
    or, if the claim stayed (Temporal could not tell), starts or finds the workflow."""
    try:
        await start
    except WorkflowAlreadyStartedError:
        return
    except RPCError as error:
        await _release_unless_started(deps, kind, row_id, version, workflow_id)
        raise Refused(503, "workflow_start_failed", "this request could not be started just now; retry it "
                      "(with the same Idempotency-Key)",
                      headers={"Retry-After": str(START_RETRY_AFTER_SECONDS)}) from error


async def _release_unless_started(deps: Deps, kind: str, row_id: str, version: str, workflow_id: str) -> None:
    # A failed call may still have started the workflow (a lost answer): release only on Temporal's word.
    try:
        await deps.temporal.get_workflow_handle(workflow_id).describe()
        return
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            log.warning("claim kept: Temporal cannot tell whether its workflow started", kind=kind, id=row_id)
            return
    try:
        async with deps.engine.begin() as conn:
            released = await claims.release(conn, kind, row_id, version)
    except SQLAlchemyError:  # the database is down too: the retry will find the claim and start it
        log.warning("claim kept: the database did not answer", kind=kind, id=row_id, exc_info=True)
        return
    log.info("claim released: its workflow did not start" if released else "claim kept: a retry took it over",
             kind=kind, id=row_id)
