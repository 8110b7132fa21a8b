"""Support actions on an order: cancel (before anything ships) and refunds, answered by workflow updates.

Each handler reads what it needs in a short transaction, then calls Temporal with no connection held,
then records the audit row: the audit row exists only if the workflow took the action.
"""

import uuid
from dataclasses import dataclass, field

import structlog
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy

from db import audit
from db import fulfillment as fulfillment_store
from db import refunds as refund_store
from models import workflow_ids
from models.auth import Caller
from models.fulfillment import CancelRequest
from models.ids import public_id
from models.refunds import RefundCommand, RefundRequest, RefundResult
from services import workflow_calls
from services.deps import Deps
from services.errors import Refused
from workflows import search_attributes as sa
from workflows.fulfillment import FulfillmentWorkflow
from workflows.order_support import OrderSupportWorkflow, SupportInput

log = structlog.get_logger("orderflow.services.orders")
ID_NAMESPACE = uuid.UUID("0b7e4a52-8d3f-4f0e-9c57-3a2e9f1d6b41")

# Business refusals from the workflows, by code: 422 for limits, 409 for state.
UNPROCESSABLE = {"refund_exceeds_captured", "refund_exceeds_quantity", "refund_line_not_on_order", "invalid_amount",
                 "invalid_lines"}


@dataclass(frozen=True)
class CancelOrder:
    order_id: str
    reason: str
    caller: Caller
    audit_details: dict = field(default_factory=dict)  # e.g. {"via": "console"}


@dataclass(frozen=True)
class IssueRefund:
    order_id: str
    request: RefundRequest
    idempotency_key: str
    caller: Caller
    audit_details: dict = field(default_factory=dict)


async def cancel_order(deps: Deps, command: CancelOrder) -> str:
    """Cancel through the order workflow: the order's new status, or a Refused."""
    async with deps.engine.connect() as conn:
        order = await fulfillment_store.order_row(conn, command.order_id)  # 404 for unknown orders
    status = await workflow_calls.execute(
        deps.temporal.get_workflow_handle(workflow_ids.order(command.order_id)), FulfillmentWorkflow.cancel,
        CancelRequest(reason=command.reason),
        closed=lambda: Refused(409, "order_not_cancellable", f"order {command.order_id} is {order.status} and can "
                               "no longer be cancelled", {"status": order.status}),
    )
    async with deps.engine.begin() as conn:
        await audit.record(conn, command.caller, "order.cancel", order_id=command.order_id, reason=command.reason,
                           details=command.audit_details or None)
    log.info("order cancelled", order_id=command.order_id, reason=command.reason)
    return status


async def issue_refund(deps: Deps, command: IssueRefund) -> tuple[RefundResult, bool]:
    """Refund through the order's support workflow (started with the update if it is not running).

    Returns the result and whether it replays an earlier refund under the same key; refusals are Refused.
    """
    order_id = command.order_id
    refund_id = public_id("refund", uuid.uuid5(ID_NAMESPACE, f"{order_id}:{command.idempotency_key}"))
    async with deps.engine.connect() as conn:
        order = await fulfillment_store.order_row(conn, order_id)  # 404 for unknown orders
        prior = await refund_store.get(conn, refund_id)
    start = WithStartWorkflowOperation(
        OrderSupportWorkflow.run, SupportInput(order_id=order_id), id=workflow_ids.support(order_id),
        task_queue=deps.settings.task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=sa.of_order(order_id, order.email),
        static_summary=f"Support actions (refunds) on order {order_id}",
    )
    refund = RefundCommand(refund_id=refund_id, order_id=order_id, request=command.request,
                           actor=command.caller.label)
    try:
        result = await deps.temporal.execute_update_with_start_workflow(OrderSupportWorkflow.refund, refund,
                                                                        start_workflow_operation=start)
    except WorkflowUpdateFailedError as error:
        raise workflow_calls.refusal(error, UNPROCESSABLE) from error
    replayed = prior is not None and prior.status == "succeeded"
    if not replayed:
        async with deps.engine.begin() as conn:
            await audit.record(conn, command.caller, "order.refund", order_id=order_id, target=result.refund_id,
                               amount=result.amount, currency=result.currency, reason=command.request.reason,
                               details=command.audit_details or None)
    log.info("refund issued", order_id=order_id, refund_id=refund_id, amount=result.amount)
    return result, replayed
