"""Returns (RMA): a customer requests one, support decides, the warehouse receives and inspects.

Deciding, receiving and inspecting are updates on the return's workflow: read the return, call
Temporal with no connection held, then write the audit row (only if the workflow took the action).
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import structlog
from temporalio.common import WorkflowIDReusePolicy

from db import audit
from db import fulfillment as fulfillment_store
from db import returns as store
from models import workflow_ids
from models.auth import Caller
from models.ids import public_id
from models.returns import Decision, Inspection, ReturnInput, ReturnPolicy, ReturnRequest, check_returnable
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
    """Record the return and start its workflow; the return's row.

    The workflow is started inside the transaction that holds the order's lock (returns of one order are
    serialised, and if starting fails nothing is recorded and the client may retry)."""
    order_id, lines, key = command.order_id, command.request.lines, command.idempotency_key
    rma_id = public_id("return", uuid.uuid5(ID_NAMESPACE, f"{order_id}:{key}") if key else None)
    async with deps.engine.begin() as conn:
        order = await fulfillment_store.order_row(conn, order_id, lock=True)  # serialise returns of one order
        if key and (existing := await store.find(conn, rma_id)) is not None:
            return existing
        delivered, last_delivery = await store.delivered(conn, order_id)
        check_returnable(lines, delivered, await store.returned(conn, order_id), last_delivery,
                         datetime.now(UTC), deps.settings.return_window_days)
        exchange = command.request.exchange
        await store.create(conn, rma_id=rma_id, order_id=order_id, lines=[line.model_dump() for line in lines],
                           exchange=exchange)
        await deps.temporal.start_workflow(
            ReturnWorkflow.run, ReturnInput(rma_id=rma_id, order_id=order_id, lines=lines, exchange=exchange,
                                            policy=policy(deps.settings)),
            id=workflow_ids.return_(rma_id), task_queue=deps.settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=sa.of_order(order_id, order.email),
            static_summary=f"Return {rma_id} of {sum(line.quantity for line in lines)} unit(s) "
                           f"from order {order_id}" + (" (exchange)" if exchange else ""),
            memo={"order_id": order_id, "lines": [line.model_dump() for line in lines], "exchange": exchange},
        )
        row = await store.get(conn, rma_id)
    log.info("return requested", order_id=order_id, rma_id=rma_id)
    return row


async def check_exchange(deps: Deps, order_id: str, request: ReturnRequest) -> None:
    """Before a return is recorded: a line's exchange_sku must be a variant of the same product, for sale and in
    stock (404 unknown_sku, 422 exchange_not_same_product, 409 insufficient_stock)."""
    async with deps.engine.connect() as conn:
        order = await fulfillment_store.order_row(conn, order_id)
        await store.check_exchange_variants(conn, request.lines, order.currency)


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
