"""Order edits (support changes quantities, adds a SKU, or moves the parcel to a new address): the request,
the plan an edit becomes, and the pure rules: what an edited line costs, which parcels may still change,
and how the payment follows the new total. No I/O; the activities bring the facts in."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from models.base import Frozen
from models.commerce import MAX_LINE_QUANTITY, Address, PaymentAuthorization
from models.content_hash import content_hash
from models.errors import Conflict, DomainError

EDIT_ID_NAMESPACE = uuid.UUID("5d0e6a8e-2f6b-4c07-9a3c-6c1f3e0b7d52")
# Parcel states in which nothing has left the shelf plan yet: its items can still be re-planned.
UNPACKED = "pending_pack"
PaymentAction = Literal["none", "lower_capture", "refund", "increase", "cancelled"]


class EditLine(Frozen):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=0, le=MAX_LINE_QUANTITY, description="New quantity; 0 removes the line")


class OrderEditRequest(Frozen):
    lines: list[EditLine] = Field(default_factory=list, max_length=100)
    shipping_address: Address | None = None
    reason: str = Field(min_length=1, max_length=500)


class OrderEditCommand(Frozen):
    """What the order workflow's ``edit`` update receives; ``edit_id`` comes from the Idempotency-Key."""

    order_id: str
    edit_id: str
    request: OrderEditRequest
    actor: str


class EditedLine(Frozen):
    sku: str
    title: str
    quantity: int
    unit_price: int
    discount: int = 0
    tax: int = 0
    weight_grams: int = 0
    tax_code: str | None = None

    @property
    def line_total(self) -> int:
        return self.unit_price * self.quantity - self.discount


class OrderFigures(Frozen):
    """An order's lines and money, before or after an edit (what the event and the email show)."""

    lines: list[EditedLine]
    subtotal: int
    discount_total: int
    tax_total: int
    shipping_total: int
    total: int
    shipping_address: Address


class PaymentAdjustment(Frozen):
    action: PaymentAction
    amount: int = 0  # lowered by / refunded / added, minor units


class EditPlan(Frozen):
    """An edit priced and checked, ready to apply: the saga's steps all read it."""

    order_id: str
    edit_id: str
    actor: str
    reason: str
    currency: str
    payment_ref: str
    authorization: PaymentAuthorization  # the order's hold when the edit was planned
    before: OrderFigures
    after: OrderFigures
    shipping_method: dict
    added_units: dict[str, int] = Field(default_factory=dict, description="Units to reserve, by SKU")
    removed_units: dict[str, int] = Field(default_factory=dict, description="Units to release, by SKU")
    captured: int = 0  # what the ledger had captured when the edit was planned
    payment: PaymentAdjustment
    request_hash: str

    @property
    def changed_skus(self) -> set[str]:
        return set(self.added_units) | set(self.removed_units)

    @property
    def address_changed(self) -> bool:
        return self.before.shipping_address != self.after.shipping_address


class EditAuthorization(Frozen):
    """How an increase was covered: the order's hold was raised in place, or a new hold replaces it."""

    mode: Literal["incremented", "replaced"]
    payment_ref: str
    authorization_id: str
    amount: int
    multicapture: bool = False


class EditOutcome(Frozen):
    """What the order workflow does after the edit is applied: stop the dissolved parcels, start the new."""

    edit_id: str
    dissolved_shipments: list[str] = Field(default_factory=list)
    new_shipments: list[str] = Field(default_factory=list)


class OrderEditResult(Frozen):
    order_id: str
    edit_id: str
    status: str
    total: int
    previous_total: int
    currency: str
    payment: PaymentAdjustment


def edit_key(plan: EditPlan, step: str) -> str:
    """Provider keys of an edit's money steps come from the order and the edit, never from an attempt."""
    return f"{plan.order_id}:edit:{plan.edit_id}:{step}"


def edit_id_for(order_id: str, idempotency_key: str) -> str:
    return f"edit_{uuid.uuid5(EDIT_ID_NAMESPACE, f'{order_id}:{idempotency_key}').hex[:20]}"


def request_hash(request: OrderEditRequest) -> str:
    """Same body, same hash (the Idempotency-Key's replay check)."""
    return content_hash(request.model_dump(mode="json"))


def edit_problem(request: OrderEditRequest) -> str | None:
    """Why a request is malformed (checked before it enters the workflow's history), or None."""
    if not request.lines and request.shipping_address is None:
        return "an edit changes lines, the shipping address or both"
    skus = [line.sku for line in request.lines]
    if len(set(skus)) != len(skus):
        return "each SKU at most once per edit"
    return None


def new_quantities(current: dict[str, int], request: OrderEditRequest) -> dict[str, int]:
    """Every SKU's quantity after the edit (lines left out keep theirs; 0 removes one)."""
    wanted = dict(current)
    wanted.update({line.sku: line.quantity for line in request.lines})
    return {sku: quantity for sku, quantity in wanted.items() if quantity > 0}


def unit_deltas(current: dict[str, int], wanted: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """(units to add, units to release) per SKU."""
    added = {sku: q - current.get(sku, 0) for sku, q in wanted.items() if q > current.get(sku, 0)}
    removed = {sku: q - wanted.get(sku, 0) for sku, q in current.items() if q > wanted.get(sku, 0)}
    return added, removed


def requantified(line: EditedLine, quantity: int) -> EditedLine:
    """An existing line at a new quantity: the order's own unit price, and its discount pro rata
    (rounded down, never more than the original per-unit share), so an edit never reprices what was sold."""
    discount = line.discount * quantity // line.quantity if line.quantity else 0
    return line.model_copy(update={"quantity": quantity, "discount": discount})


def payment_adjustment(old_total: int, new_total: int, captured: int) -> PaymentAdjustment:
    """How the payment follows the new total.

    Lower before any capture: the parcels capture less (the final capture releases the rest of the hold).
    Lower than what was already captured: refund the difference. Higher: the hold must grow first, which
    cards allow only before any capture (``payment_increase_not_possible`` after)."""
    if new_total == old_total:
        return PaymentAdjustment(action="none")
    if new_total > old_total:
        if captured > 0:
            raise Conflict("part of this order's payment is already captured; a higher total cannot be "
                           "authorized on it", code="payment_increase_not_possible")
        return PaymentAdjustment(action="increase", amount=new_total - old_total)
    if captured > new_total:
        return PaymentAdjustment(action="refund", amount=captured - new_total)
    return PaymentAdjustment(action="lower_capture", amount=old_total - new_total)


def check_parcels(parcels: list[dict], changed_skus: set[str], address_changed: bool) -> None:
    """Refuse an edit touching a parcel that has left the plan: shipped (or its capture began), or packed.

    ``parcels``: ``{"id", "status", "shipped_at", "capture_amount", "items": {sku: quantity}}``. A new address
    touches every parcel not shipped yet."""
    for parcel in parcels:
        touched = address_changed or bool(changed_skus & set(parcel["items"]))
        if not touched or parcel["status"] == "cancelled":
            continue
        if parcel["shipped_at"] is not None or parcel["capture_amount"] is not None:
            if address_changed and not (changed_skus & set(parcel["items"])):
                continue  # already on its way: the new address is for the parcels still to go
            raise Conflict(f"parcel {parcel['id']} holding {', '.join(sorted(changed_skus & set(parcel['items'])))} "
                           "has shipped; refund or return instead", code="line_already_shipped",
                           details={"shipment_id": parcel["id"]})
        if parcel["status"] != UNPACKED:
            raise Conflict(f"parcel {parcel['id']} is already packed ({parcel['status']}); it can no longer change",
                           code="line_already_packed", details={"shipment_id": parcel["id"]})


def replan(parcels: list[dict], removed: dict[str, int], added_holds: list[tuple[str, str, int]],
           changed_skus: set[str]) -> tuple[list[str], dict[str, dict[str, int]]]:
    """Re-plan the unpacked parcels holding a changed SKU or at a location where added units are held:
    (parcels dissolved, {location: {sku: units}} to allocate into new parcels). Removed units come off the
    dissolved parcels; added holds (sku, location, units) join their location's new parcel, so a location
    ships one parcel rather than two."""
    landing = {location for _, location, _ in added_holds}
    dissolved = [p for p in parcels if p["status"] == UNPACKED and p["shipped_at"] is None
                 and p["capture_amount"] is None and (changed_skus & set(p["items"]) or p["location_id"] in landing)]
    pool: dict[str, dict[str, int]] = {}
    for parcel in dissolved:
        for sku, units in parcel["items"].items():
            at = pool.setdefault(parcel["location_id"], {})
            at[sku] = at.get(sku, 0) + units
    for sku, units in sorted(removed.items()):
        for location in sorted(pool):
            taken = min(units, pool[location].get(sku, 0))
            pool[location][sku] = pool[location].get(sku, 0) - taken
            units -= taken
        if units:
            raise DomainError(f"{units} unit(s) of {sku} are not in a parcel that can change",
                              code="line_already_shipped")
    for sku, location, units in added_holds:
        at = pool.setdefault(location, {})
        at[sku] = at.get(sku, 0) + units
    planned = {location: {sku: q for sku, q in items.items() if q > 0} for location, items in pool.items()}
    return [p["id"] for p in dissolved], {location: items for location, items in sorted(planned.items()) if items}
