"""Warehouse and ops actions on a shipment, delivered to the shipment's workflow as signals.

The shipment is read in a short transaction, the signal sent with no connection held, and the audit
row written once the signal was delivered.
"""

import asyncio
from dataclasses import dataclass

from temporalio.service import RPCError, RPCStatusCode

from db import audit
from db import fulfillment as store
from models.auth import Caller
from models.errors import Conflict
from services.deps import Deps
from workflows.shipment import ShipmentWorkflow

# The order workflow writes the shipment row a moment before it starts the shipment's workflow.
STARTING_GRACE_SECONDS = 3.0
PACKABLE = {"pending_pack", "packed"}
RETRYABLE = {"pending_pack", "packed", "label_purchased", "shipped", "in_transit"}


@dataclass(frozen=True)
class MarkPacked:
    shipment_id: str
    caller: Caller


@dataclass(frozen=True)
class RetryCarrier:
    shipment_id: str
    caller: Caller


async def mark_packed(deps: Deps, command: MarkPacked) -> None:
    """The warehouse packed the parcel: the shipment buys its label, captures payment and ships."""
    await _audited_signal(deps, command.caller, command.shipment_id, ShipmentWorkflow.packed, "shipment.packed",
                          allowed=PACKABLE)


async def retry_carrier(deps: Deps, command: RetryCarrier) -> None:
    """Ops fixed a provider problem: retry the stuck step now, not at the next timer."""
    await _audited_signal(deps, command.caller, command.shipment_id, ShipmentWorkflow.retry_carrier,
                          "shipment.retry_carrier", allowed=RETRYABLE)


async def _audited_signal(deps: Deps, caller: Caller, shipment_id: str, signal, action: str, *,
                          allowed: set[str]) -> None:
    async with deps.engine.connect() as conn:
        shipment = await store.shipment_row(conn, shipment_id)
    if shipment.status not in allowed:
        raise Conflict(f"shipment {shipment_id} is {shipment.status}", code="shipment_state_conflict",
                       details={"status": shipment.status})
    await _signal_once_started(deps, shipment, signal)
    async with deps.engine.begin() as conn:  # only once the signal was delivered
        await audit.record(conn, caller, action, order_id=shipment.order_id, target=shipment_id)


async def _signal_once_started(deps: Deps, shipment, signal) -> None:
    handle = deps.temporal.get_workflow_handle(shipment.workflow_id)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + STARTING_GRACE_SECONDS
    while True:
        try:
            await handle.signal(signal)
            return
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            if loop.time() > give_up:
                raise Conflict(f"shipment {shipment.id} is not being processed", code="shipment_not_ready") from error
        await asyncio.sleep(0.1)
