"""Returns (RMA): what may come back, when, and what happens to each unit."""

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field, model_validator

from models.commerce import Frozen
from models.errors import DomainError

ReturnReason = Literal["defective", "wrong_item", "not_as_described", "no_longer_needed", "size_fit", "other"]
Disposition = Literal["resell", "refurbish", "scrap"]
# Our fault: no restocking fee.
FEE_EXEMPT_REASONS = {"defective", "wrong_item", "not_as_described"}


class ReturnPolicy(Frozen):
    window_days: float = 30
    approval_seconds: int = 14 * 24 * 3600
    ship_back_seconds: int = 14 * 24 * 3600
    restocking_fee_bp: int = 0


class ReturnLine(Frozen):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=999)
    reason: ReturnReason


class ReturnRequest(Frozen):
    lines: list[ReturnLine] = Field(min_length=1)
    exchange: bool = Field(False, description="Ship the same items again at no charge instead of refunding")

    @model_validator(mode="after")
    def _one_line_per_sku(self) -> "ReturnRequest":
        skus = [line.sku for line in self.lines]
        if len(skus) != len(set(skus)):
            raise ValueError("list each SKU once")
        return self


class InspectedUnits(Frozen):
    sku: str
    quantity: int = Field(gt=0, le=999)
    disposition: Disposition
    accepted: bool = True  # refundable; False e.g. for damage the customer caused
    location_code: str | None = Field(None, description="Where resellable units go back on the shelf")


class Inspection(Frozen):
    units: list[InspectedUnits] = Field(min_length=1)
    note: str | None = Field(None, max_length=500)


class ReturnInput(Frozen):
    rma_id: str
    order_id: str
    lines: list[ReturnLine]
    exchange: bool
    policy: ReturnPolicy


class Decision(Frozen):
    note: str | None = Field(None, max_length=500)
    actor: str | None = None


def check_returnable(wanted: list[ReturnLine], delivered: dict[str, int], already_returned: dict[str, int],
                     last_delivery: datetime | None, now: datetime, window_days: float) -> None:
    """Refuse units that were never delivered, are already on their way back, or are too late."""
    if last_delivery is None:
        raise DomainError("nothing on this order has been delivered yet", code="not_delivered")
    if now > last_delivery + timedelta(days=window_days):
        raise DomainError(f"the {window_days:g}-day return window closed", code="return_window_closed",
                          details={"delivered_at": last_delivery.isoformat()})
    for line in wanted:
        left = delivered.get(line.sku, 0) - already_returned.get(line.sku, 0)
        if line.quantity > left:
            raise DomainError(f"only {left} of {line.sku} can be returned", code="return_exceeds_delivered",
                              details={"sku": line.sku, "returnable": left})


def check_inspection(lines: list[ReturnLine], inspection: Inspection) -> None:
    """Every returned unit is inspected exactly once; resellable units need a shelf."""
    expected = {line.sku: line.quantity for line in lines}
    seen: dict[str, int] = {}
    for unit in inspection.units:
        seen[unit.sku] = seen.get(unit.sku, 0) + unit.quantity
        if unit.disposition == "resell" and not unit.location_code:
            raise DomainError(f"say where the resellable {unit.sku} goes (location_code)", code="location_required")
    if seen != expected:
        raise DomainError("inspect exactly the returned units", code="inspection_mismatch",
                          details={"expected": expected, "inspected": seen})


def accepted_units(inspection: Inspection) -> dict[str, int]:
    accepted: dict[str, int] = {}
    for unit in inspection.units:
        if unit.accepted:
            accepted[unit.sku] = accepted.get(unit.sku, 0) + unit.quantity
    return accepted
