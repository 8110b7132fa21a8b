"""Warehouse and ops actions on shipments, delivered to the shipment's workflow as signals
(handlers: services/fulfillment.py)."""

from fastapi import APIRouter, status

from api.auth import CurrentCaller
from api.deps import Services
from api.schemas import ErrorResponse
from services import fulfillment

router = APIRouter(prefix="/shipments", tags=["fulfillment"])


@router.post("/{shipment_id}/packed", status_code=status.HTTP_202_ACCEPTED,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def mark_packed(shipment_id: str, services: Services, caller: CurrentCaller) -> dict:
    """The warehouse packed the parcel: the shipment buys its label, captures payment and ships."""
    await fulfillment.mark_packed(services, fulfillment.MarkPacked(shipment_id=shipment_id, caller=caller))
    return {"shipment_id": shipment_id, "accepted": True}


@router.post("/{shipment_id}/retry-carrier", status_code=status.HTTP_202_ACCEPTED,
             responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
async def retry_carrier(shipment_id: str, services: Services, caller: CurrentCaller) -> dict:
    """Ops fixed a provider problem (carrier, payment, tax, database): retry the stuck step now, not at the
    next timer. A parcel alerted after its label (capture_unknown, tax_commit_failed…) is retried too, and
    one whose packing record failed (pack_failed, still pending_pack)."""
    await fulfillment.retry_carrier(services, fulfillment.RetryCarrier(shipment_id=shipment_id, caller=caller))
    return {"shipment_id": shipment_id, "accepted": True}
