"""Returns (RMA): a customer requests one, support decides, the warehouse receives and inspects.

A request records the return, commits, then starts its workflow (a failed start releases the record).
Deciding, receiving and inspecting are updates on the return's workflow: read the return, call
Temporal with no connection held, then write the audit row (only if the workflow took the action).
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import structlog
from temporalio.common import WorkflowIDReusePolicy

from db import audit, claims
from db import fulfillment as fulfillment_store
from db import returns as store
from models.auth import Caller
from models.ids import public_id
from models.returns import (
    Decision, Inspection, ReturnInput, ReturnLine, ReturnPolicy, ReturnRequest, check_returnable,
)
from services import workflow_calls
from services.deps import Deps
from services.errors import Refused
from workflows import search_attributes as sa
from workflows.returns import ReturnWorkflow

log = structlog.get_logger("orderflow.services.returns")
ID_NAMESPACE = uuid.UUID("5d1f2c0e-7a4b-4c59-8e0d-2b6f3a9c4e17")
UNPROCESSABLE = {"inspection_mismatch", "location_required", "location_not_found"}


@dataclass(frozen=True)
class CreateReturn:
    order_id: str
    request: ReturnRequest
    idempotency_key: str | None = None  # without one every call is a new return
    # Staff asking on a customer's behalf (the console): a new return is audited with them as its actor.
    caller: Caller | None = None
    audit_details: dict | None = None


@dataclass(frozen=True)
class DecideReturn:
    rma_id: str
    decision: Literal["approve", "reject"]
    body: Decision
    caller: Caller
    audit_details: dict | None = None


@dataclass(frozen=True)
class ReceiveReturn:
    rma_id: str
    caller: Caller


@dataclass(frozen=True)
class InspectReturn:
    rma_id: str
    inspection: Inspection
    caller: Caller


def policy(settings) -> ReturnPolicy:
    day = 24 * 3600
    return ReturnPolicy(window_days=settings.return_window_days,
                        approval_seconds=round(settings.return_approval_days * day),
                        ship_back_seconds=max(1, round(settings.return_ship_back_days * day)),
                        restocking_fee_bp=settings.restocking_fee_bp)


async def create_return(deps: Deps, command: CreateReturn):
    """Record the return, then start its workflow with no transaction held; the return's row.

    Recorded under the order's lock (returns of one order are serialised); a start that fails releases the
    record (services/workflow_calls.start_claimed) and the client retries. A replay of a return still
    ``requested`` starts it too, in case its first attempt died before starting it."""
    order_id, key = command.order_id, command.idempotency_key
    rma_id = public_id("return", uuid.uuid5(ID_NAMESPACE, f"{order_id}:{key}") if key else None)
    row, email, version = await _record(deps, command, rma_id)
    if row.status == "requested":
        await workflow_calls.start_claimed(deps, "return", rma_id, version, row.workflow_id,
                                           _start_workflow(deps, row, email))
        log.info("return requested", order_id=order_id, rma_id=rma_id)
    return row


async def _record(deps: Deps, command: CreateReturn, rma_id: str):
    """The return's row (created unless replayed), the order's email and the claim's version."""
    order_id, lines = command.order_id, command.request.lines
    async with deps.engine.begin() as conn:
        order = await fulfillment_store.order_row(conn, order_id, lock=True)  # serialise returns of one order
        if command.idempotency_key is None or await store.find(conn, rma_id) is None:
            delivered, last_delivery = await store.delivered(conn, order_id)
            check_returnable(lines, delivered, await store.returned(conn, order_id), last_delivery,
                             datetime.now(UTC), deps.settings.return_window_days)
            # Checked only for a new return: a replayed key answers the return it made, even if the variant
            # has sold out since.
            await store.check_exchange_variants(conn, lines, order.currency)
            await store.create(conn, rma_id=rma_id, order_id=order_id, lines=[line.model_dump() for line in lines],
                               exchange=command.request.exchange)
            if command.caller is not None:
                await audit.record(conn, command.caller, "return.request", order_id=order_id, target=rma_id,
                                   details={"lines": [line.model_dump() for line in lines],
                                            "exchange": command.request.exchange, **(command.audit_details or {})})
        version = await claims.stamp(conn, "return", rma_id)
        return await store.get(conn, rma_id), order.email, version


def _start_workflow(deps: Deps, row, email: str):
    lines = [ReturnLine.model_validate(line) for line in row.lines]
    return deps.temporal.start_workflow(
        ReturnWorkflow.run, ReturnInput(rma_id=row.id, order_id=row.order_id, lines=lines, exchange=row.exchange,
                                        policy=policy(deps.settings)),
        id=row.workflow_id, task_queue=deps.settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,  # a replay finds it started, even once it ended
        search_attributes=sa.of_order(row.order_id, email),
        static_summary=f"Return {row.id} of {sum(line.quantity for line in lines)} unit(s) "
                       f"from order {row.order_id}" + (" (exchange)" if row.exchange else ""),
        memo={"order_id": row.order_id, "lines": row.lines, "exchange": row.exchange},
    )


async def decide_return(deps: Deps, command: DecideReturn):
    """Approve (the customer gets a return label) or reject a requested return."""
    update = ReturnWorkflow.approve if command.decision == "approve" else ReturnWorkflow.reject
    return await _audited_update(deps, command.caller, f"return.{command.decision}", command.rma_id, update,
                                 command.body, reason=command.body.note or "", details=command.audit_details)


async def receive_return(deps: Deps, command: ReceiveReturn):
    """The warehouse has the parcel (when carrier tracking did not already say so)."""
    return await _audited_update(deps, command.caller, "return.receive", command.rma_id, ReturnWorkflow.receive)


async def inspect_return(deps: Deps, command: InspectReturn):
    """Per-unit disposition: resell (restocked at location_code), refurbish or scrap."""
    return await _audited_update(deps, command.caller, "return.inspect", command.rma_id, ReturnWorkflow.inspect,
                                 command.inspection, reason=command.inspection.note or "")


async def _audited_update(deps: Deps, caller: Caller, action: str, rma_id: str, update, *args, reason: str = "",
                          details: dict | None = None):
    """The return's row as read before the update (what the API has always answered)."""
    async with deps.engine.connect() as conn:
        row = await store.get(conn, rma_id)
    await workflow_calls.execute(deps.temporal.get_workflow_handle(row.workflow_id), update, *args,
                                 unprocessable=UNPROCESSABLE,
                                 closed=lambda: Refused(409, "return_state_conflict", f"the return is {row.status}"))
    async with deps.engine.begin() as conn:
        await audit.record(conn, caller, action, order_id=row.order_id, target=rma_id, reason=reason, details=details)
    return row
