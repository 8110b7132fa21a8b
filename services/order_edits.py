"""Order edits (support): new quantities, a new SKU, a new address, answered by the order workflow's validated
``edit`` update so that edits, cancels and captures of one order happen one at a time.

The Idempotency-Key names the edit (``edit_id``): a replay answers the applied edit, a different body under the
same key is refused. An edit that removes every line is a cancel, and goes the cancel's way.
"""

from dataclasses import dataclass

import structlog

from db import audit
from db import fulfillment as fulfillment_store
from db import order_edits as edit_store
from models import workflow_ids
from models.auth import Caller
from models.order_edits import (
    OrderEditCommand, OrderEditRequest, OrderEditResult, PaymentAdjustment, edit_id_for, new_quantities,
    request_hash,
)
from models.order_state import OrderStatus
from services import orders, workflow_calls
from services.deps import Deps
from services.errors import Refused
from workflows.fulfillment import FulfillmentWorkflow

log = structlog.get_logger("orderflow.services.order_edits")

# Refusals that mean "your input is wrong" (422); the others are the order's state (409).
UNPROCESSABLE = {"invalid_edit", "unknown_sku", "address_invalid", "shipping_unavailable"}


@dataclass(frozen=True)
class EditOrder:
    order_id: str
    request: OrderEditRequest
    idempotency_key: str
    caller: Caller


async def edit_order(deps: Deps, command: EditOrder) -> tuple[OrderEditResult, bool]:
    """Apply the edit through the order workflow: (result, whether it replays an earlier edit), or a Refused."""
    order_id, edit_id = command.order_id, edit_id_for(command.order_id, command.idempotency_key)
    async with deps.engine.connect() as conn:
        order = await fulfillment_store.order_row(conn, order_id)  # 404 for unknown orders
        prior = await edit_store.applied_edit(conn, order_id, edit_id)
        current = {line.sku: line.quantity for line in await edit_store.lines_of(conn, order_id)}
        cancelled_by_this_key = await edit_store.cancelled_by_edit(conn, order_id, edit_id)
    if prior is not None:
        return _replayed(order_id, edit_id, prior, command.request), True
    if not new_quantities(current, command.request):  # every line to 0: that is a cancel
        return await _cancel_instead(deps, command, edit_id, order.total, order.currency, cancelled_by_this_key)
    if order.status == OrderStatus.CANCELLED:
        raise Refused(409, "order_cancelled", f"order {order_id} is cancelled; it can no longer be edited")
    result = await workflow_calls.execute(
        deps.temporal.get_workflow_handle(workflow_ids.order(order_id)), FulfillmentWorkflow.edit,
        OrderEditCommand(order_id=order_id, edit_id=edit_id, request=command.request, actor=command.caller.label),
        unprocessable=UNPROCESSABLE, update_id=edit_id,
        closed=lambda: Refused(409, "order_not_editable", f"order {order_id} is {order.status} and can no longer "
                               "be edited", {"status": order.status}))
    async with deps.engine.begin() as conn:
        applied = await edit_store.applied_edit(conn, order_id, edit_id)
        await audit.record(conn, command.caller, "order.edit", order_id=order_id, target=edit_id,
                           amount=result.total, currency=result.currency, reason=command.request.reason,
                           details={key: applied[key] for key in ("before", "after", "payment")} if applied else None)
    log.info("order edited", order_id=order_id, edit_id=edit_id, total=result.total, payment=result.payment.action)
    return result, False


def _replayed(order_id: str, edit_id: str, prior: dict, request: OrderEditRequest) -> OrderEditResult:
    if prior["request_hash"] != request_hash(request):
        raise Refused(409, "idempotency_key_reused", "this Idempotency-Key was used for a different edit")
    return OrderEditResult(order_id=order_id, edit_id=edit_id, status="applied", total=prior["after"]["total"],
                           previous_total=prior["before"]["total"], currency=prior["currency"], payment=PaymentAdjustment.model_validate(prior["payment"]))


async def _cancel_instead(deps: Deps, command: EditOrder, edit_id: str, total: int, currency: str,
                          replay: bool) -> tuple[OrderEditResult, bool]:
    if not replay:
        await orders.cancel_order(deps, orders.CancelOrder(order_id=command.order_id, reason=command.request.reason,
                                                           caller=command.caller,
                                                           audit_details={"via": "edit", "edit_id": edit_id}))
    return OrderEditResult(order_id=command.order_id, edit_id=edit_id, status="cancelled", total=0,
                           previous_total=total, currency=currency,
                           payment=PaymentAdjustment(action="cancelled", amount=total)), replay
