"""Calling a workflow's validated update from a handler: refusals keep their business code.

A validator or handler refusal (ApplicationError with a type) becomes a 409 — or a 422 for
codes that mean "your input is wrong" — and a workflow that has ended becomes ``closed()``.
"""

from collections.abc import Callable

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from services.errors import Refused


def refusal(error: WorkflowUpdateFailedError, unprocessable: set[str]) -> Refused:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type:
        return Refused(422 if cause.type in unprocessable else 409, cause.type, cause.message)
    raise error


async def execute(handle: WorkflowHandle, update, *args, unprocessable: set[str] = frozenset(),
                  closed: Callable[[], Refused], update_id: str | None = None):
    """``update_id``: the same id while the workflow runs is the same update (a concurrent repeat waits for it)."""
    try:
        return await handle.execute_update(update, *args, id=update_id)
    except WorkflowUpdateFailedError as error:
        raise refusal(error, unprocessable) from error
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise closed() from error
        raise
