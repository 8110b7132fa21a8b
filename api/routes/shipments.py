"""Warehouse and ops actions on shipments, delivered to the shipment's workflow as signals."""

import asyncio

from fastapi import APIRouter, status
from temporalio.service import RPCError, RPCStatusCode

from api.auth import CurrentCaller
from api.deps import Engine, Temporal
from api.schemas import ErrorResponse
from db import audit
from db import fulfillment as store
from models.errors import Conflict
from workflows.shipment import ShipmentWorkflow

router = APIRouter(prefix="/shipments", tags=["fulfillment"])


# The order workflow writes the shipment row a moment before it starts the shipment's workflow.
STARTING_GRACE_SECONDS = 3.0


async def _signal(temporal, conn, shipment_id: str, signal, *, allowed: set[str]):
    shipment = await store.shipment_row(conn, shipment_id)
    if shipment.status not in allowed:
        raise Conflict(f"shipment {shipment_id} is {shipment.status}", code="shipment_state_conflict",
                       details={"status": shipment.status})
    handle = temporal.get_workflow_handle(shipment.workflow_id)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + STARTING_GRACE_SECONDS
    while True:
        try:
            await handle.signal(signal)
            return shipment
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            if loop.time() > give_up:
                raise Conflict(f"shipment {shipment_id} is not being processed", code="shipment_not_ready") from error
        await asyncio.sleep(0.1)


@router.post("/{shipment_id}/packed", status_code=status.HTTP_202_ACCEPTED,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def mark_packed(shipment_id: str, engine: Engine, temporal: Temporal, caller: CurrentCaller) -> dict:
    """The warehouse packed the parcel: the shipment buys its label, captures payment and ships."""
    return await _audited_signal(engine, temporal, caller, shipment_id, ShipmentWorkflow.packed, "shipment.packed",
                                 allowed={"pending_pack", "packed"})


@router.post("/{shipment_id}/retry-carrier", status_code=status.HTTP_202_ACCEPTED,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def retry_carrier(shipment_id: str, engine: Engine, temporal: Temporal, caller: CurrentCaller) -> dict:
    """Ops fixed a provider problem (carrier, payment, tax, database): retry the stuck step now, not at the
    next timer. A parcel alerted after its label (capture_unknown, tax_commit_failed…) is retried too, and
    one whose packing record failed (pack_failed, still pending_pack)."""
    return await _audited_signal(engine, temporal, caller, shipment_id, ShipmentWorkflow.retry_carrier,
                                 "shipment.retry_carrier",
                                 allowed={"pending_pack", "packed", "label_purchased", "shipped", "in_transit"})


async def _audited_signal(engine, temporal, caller, shipment_id: str, signal, action: str, *,
                          allowed: set[str]) -> dict:
    # The audit row commits only if the signal was delivered.
    async with engine.begin() as conn:
        shipment = await _signal(temporal, conn, shipment_id, signal, allowed=allowed)
        await audit.record(conn, caller, action, order_id=shipment.order_id, target=shipment_id)
    return {"shipment_id": shipment_id, "accepted": True}
