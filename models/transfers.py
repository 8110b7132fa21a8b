"""Stock transfers between locations: states, allowed steps and what each step does to stock.

A transfer moves ``quantity`` units of one SKU from an origin (A) to a destination (B)::

    requested ──ship──▶ in_transit ──receive──▶ received
        └──────cancel──▶ cancelled

What each step does to the two stock rows (q = quantity, r = units that arrived, r ≤ q)::

    request  A.outbound += q                    units committed to leave, still on A's shelf
    ship     A.on_hand −= q, A.outbound −= q    they left A …
             B.inbound += q                     … and count toward B's ATP (confirmed inbound)
    receive  B.on_hand += r, B.inbound −= q     q − r is recorded as lost in transit
    cancel   A.outbound −= q                    only while requested: nothing has moved yet

ATP = on_hand − reserved − safety_stock + inbound − outbound (``models.inventory.atp``), so a
request needs A's ATP ≥ q: a transfer never takes units promised to customers or safety stock.
The stock table's CHECK ``reserved + outbound_transfers <= on_hand + inbound_transfers`` is the
invariant every step keeps (``models.inventory.violations`` states it in Python).
"""

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from models.errors import Conflict, DomainError, OutOfStock
from models.inventory import StockLevel, violations

class TransferStatus(StrEnum):
    REQUESTED = "requested"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class TransferAction(StrEnum):
    REQUEST = "request"
    SHIP = "ship"
    RECEIVE = "receive"
    CANCEL = "cancel"


S, A = TransferStatus, TransferAction

TARGET: dict[TransferAction, TransferStatus] = {
    A.REQUEST: S.REQUESTED, A.SHIP: S.IN_TRANSIT, A.RECEIVE: S.RECEIVED, A.CANCEL: S.CANCELLED,
}
# The steps allowed from each state; everything else is refused.
TRANSITIONS: dict[TransferStatus, frozenset[TransferAction]] = {
    S.REQUESTED: frozenset({A.SHIP, A.CANCEL}),
    S.IN_TRANSIT: frozenset({A.RECEIVE}),
    S.RECEIVED: frozenset(),
    S.CANCELLED: frozenset(),
}
_PAST = {A.REQUEST: "requested", A.SHIP: "shipped", A.RECEIVE: "received", A.CANCEL: "cancelled"}


@dataclass(frozen=True)
class Transfer:
    id: str
    sku: str
    from_location_id: str
    from_location_code: str
    to_location_id: str
    to_location_code: str
    quantity: int
    received_quantity: int | None
    status: TransferStatus
    reference: str | None
    created_at: datetime
    shipped_at: datetime | None
    received_at: datetime | None
    cancelled_at: datetime | None


class InvalidTransferTransition(Conflict):
    code = "invalid_transfer_transition"


def transition(current: TransferStatus | str, action: TransferAction | str) -> tuple[TransferStatus, bool]:
    """The status after ``action`` and whether anything changes.

    Repeating the step that led to the current state is a no-op (``changed`` False), so a
    retried request answers the current state; any other step not allowed raises.
    """
    current, action = TransferStatus(current), TransferAction(action)
    target = TARGET[action]
    if target == current:
        return current, False
    if action not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (final state)"
        raise InvalidTransferTransition(
            f"a {current} transfer cannot be {_PAST[action]}; allowed from {current}: {allowed}",
            details={"status": current.value, "action": action.value},
        )
    return target, True


@dataclass(frozen=True)
class StockEntry:
    """One change to one side's stock row, written to the inventory ledger as one row."""

    side: str  # "origin" or "destination"
    reason: str
    on_hand: int = 0
    inbound: int = 0
    outbound: int = 0
    note: str | None = None


def entries(action: TransferAction | str, quantity: int, received: int | None = None) -> list[StockEntry]:
    """The stock changes of one step, before any check against current levels."""
    action = TransferAction(action)
    q = quantity
    if action is A.REQUEST:
        return [StockEntry("origin", "transfer_request", outbound=q)]
    if action is A.SHIP:
        return [StockEntry("origin", "transfer_out", on_hand=-q, outbound=-q),
                StockEntry("destination", "transfer_inbound", inbound=q)]
    if action is A.CANCEL:
        return [StockEntry("origin", "transfer_cancel", outbound=-q)]
    arrived = q if received is None else received
    changes = [StockEntry("destination", "transfer_in", on_hand=arrived, inbound=-arrived)]
    if arrived < q:
        changes.append(StockEntry("destination", "transfer_loss", inbound=-(q - arrived),
                                  note=f"{q - arrived} of {q} units did not arrive"))
    return changes


def apply(level: StockLevel, changes: list[StockEntry]) -> StockLevel:
    """``level`` after ``changes`` (all of one side)."""
    return replace(
        level,
        on_hand=level.on_hand + sum(c.on_hand for c in changes),
        inbound_transfers=level.inbound_transfers + sum(c.inbound for c in changes),
        outbound_transfers=level.outbound_transfers + sum(c.outbound for c in changes),
    )


def validate_request(sku: str, from_location_id: str, to_location_id: str, quantity: int) -> None:
    """Shape rules of a new transfer that need no stock level."""
    if from_location_id == to_location_id:
        raise DomainError("a transfer needs two different locations", code="transfer_same_location",
                          details={"sku": sku, "location_id": from_location_id})
    if quantity <= 0:
        raise DomainError("a transfer moves at least one unit", code="invalid_quantity")


def plan(action: TransferAction | str, quantity: int, origin: StockLevel, destination: StockLevel,
         received: int | None = None) -> list[StockEntry]:
    """The stock changes of ``action``, checked against the locked current levels.

    Raises ``OutOfStock`` (``insufficient_stock``) when the origin's ATP cannot cover a request,
    ``Conflict`` when a step would leave either row breaking the stock invariants.
    """
    action = TransferAction(action)
    if action is A.REQUEST and origin.atp < quantity:
        raise OutOfStock(
            f"only {origin.atp} of {origin.sku} available to transfer at the origin, {quantity} requested",
            code="insufficient_stock",
            details={"sku": origin.sku, "requested": quantity, "available": origin.atp},
        )
    if action is A.SHIP and origin.on_hand < quantity:
        raise Conflict(
            f"only {origin.on_hand} of {origin.sku} are on the origin's shelf, {quantity} must leave: "
            "receive the stock it is waiting for first",
            code="transfer_stock_not_on_hand",
            details={"sku": origin.sku, "quantity": quantity, "on_hand": origin.on_hand},
        )
    if action is A.RECEIVE and received is not None and not 0 <= received <= quantity:
        raise DomainError(f"received quantity must be between 0 and {quantity}", code="invalid_received_quantity",
                          details={"quantity": quantity, "received": received})
    changes = entries(action, quantity, received)
    for side, level in (("origin", origin), ("destination", destination)):
        mine = [c for c in changes if c.side == side]
        if mine and (broken := violations(apply(level, mine))):
            raise Conflict(
                f"this {action} would leave {level.sku} at the {side} inconsistent: {'; '.join(broken)} "
                f"(reserved {level.reserved}, outbound {level.outbound_transfers})",
                code="stock_below_reserved",
                details={"sku": level.sku, "location_id": level.location_id, "violations": broken},
            )
    return changes
