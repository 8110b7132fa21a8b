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
    exchange_sku: str | None = Field(None, min_length=1, max_length=64,
                                     description="Exchange for this variant of the same product (size, colour)")


class ReturnRequest(Frozen):
    lines: list[ReturnLine] = Field(min_length=1)
    exchange: bool = Field(False, description="Ship the same items again at no charge instead of refunding; "
                                              "implied by a line's exchange_sku")

    @model_validator(mode="before")
    @classmethod
    def _variant_means_exchange(cls, data):
        """A line naming another variant makes the whole return an exchange (the other lines come back as is)."""
        if isinstance(data, dict) and any(isinstance(line, dict) and line.get("exchange_sku")
                                          for line in data.get("lines") or []):
            return {**data, "exchange": True}
        return data

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


class ExchangeLine(Frozen):
    """One exchanged line's share of the difference: the variant shipped, its units and the signed change of
    their price before tax (what the difference's tax document reports for it)."""

    sku: str
    quantity: int
    net: int


class ExchangeTerms(Frozen):
    """What an exchange ships and what it costs: ``replacement`` (sku → units) and the signed ``difference``
    (minor units, tax included): above 0 the customer pays it, below 0 it is refunded (at most ``paid``)."""

    currency: str
    replacement: dict[str, int]
    difference_net: int = 0
    difference_tax: int = 0
    paid: int = 0  # what the customer paid for the exchanged units: the bound of a refunded difference
    lines: list[ExchangeLine] = []  # the lines whose price changed (none in terms priced by older builds)

    @property
    def difference(self) -> int:
        return self.difference_net + self.difference_tax

    @property
    def to_refund(self) -> int:
        return min(-self.difference, self.paid) if self.difference < 0 else 0


def exchange_tax_document(rma_id: str) -> str:
    """The tax document of a dearer exchange's difference (one per return, whatever retries happen)."""
    return f"{rma_id}:exchange-tax"


class ExchangeCharge(Frozen):
    """The price difference of a dearer exchange, captured before the replacement ships."""

    provider: str
    authorization_id: str
    net: int
    tax: int


class PaidLine(Frozen):
    """An order line as paid: the returned units' price and tax come from it."""

    sku: str
    quantity: int
    unit_price: int
    line_total: int
    tax: int


def replacement_units(lines: list[ReturnLine], accepted: dict[str, int]) -> dict[str, int]:
    """The units an exchange ships for the accepted ones: the chosen variant, or the same SKU again."""
    units: dict[str, int] = {}
    for line in lines:
        if accepted.get(line.sku):
            target = line.exchange_sku or line.sku
            units[target] = units.get(target, 0) + accepted[line.sku]
    return units


def exchange_terms(lines: list[ReturnLine], accepted: dict[str, int], paid: dict[str, PaidLine],
                   prices: dict[str, int], currency: str) -> ExchangeTerms:
    """Price an exchange: a new variant costs its current price (``prices``) less the unit price paid for the
    returned one, taxed at the returned line's rate; the customer keeps a discount they had. The same SKU
    again costs nothing, as exchanges always did."""
    net = tax = value = 0
    changed = []
    for line in lines:
        quantity = accepted.get(line.sku, 0)
        if not quantity or line.exchange_sku in (None, line.sku):
            continue
        was = paid[line.sku]
        step = (prices[line.exchange_sku] - was.unit_price) * quantity
        net += step
        tax += _share(step, was.tax, was.line_total)
        if step:
            changed.append(ExchangeLine(sku=line.exchange_sku, quantity=quantity, net=step))
        value += (was.line_total + was.tax) * quantity // was.quantity
    return ExchangeTerms(currency=currency, replacement=replacement_units(lines, accepted), difference_net=net,
                         difference_tax=tax, paid=value, lines=changed)


def _share(amount: int, part: int, whole: int) -> int:
    """amount × part / whole, rounded half away from zero (integer minor units)."""
    if whole <= 0:
        return 0
    magnitude = (abs(amount) * part * 2 + whole) // (whole * 2)
    return magnitude if amount >= 0 else -magnitude
