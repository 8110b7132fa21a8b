"""Available-to-promise and reservation planning, as pure functions."""

from dataclasses import dataclass

from models.errors import OutOfStock

INT_MAX = 2_147_483_647  # the stock columns are PostgreSQL INTEGER


@dataclass(frozen=True)
class StockLevel:
    sku: str
    location_id: str
    on_hand: int
    reserved: int
    safety_stock: int = 0
    inbound_transfers: int = 0
    outbound_transfers: int = 0

    @property
    def atp(self) -> int:
        return atp(self.on_hand, self.reserved, self.safety_stock, self.inbound_transfers, self.outbound_transfers)


def atp(on_hand: int, reserved: int, safety_stock: int = 0, inbound: int = 0, outbound: int = 0) -> int:
    """ATP = on_hand − reserved − safety_stock + confirmed inbound − outbound transfers, floored at 0."""
    return max(0, on_hand - reserved - safety_stock + inbound - outbound)


def violations(level: StockLevel) -> list[str]:
    """The stock table's CHECK constraints ``level`` breaks (empty when it may be stored)."""
    broken = [f"{name} < 0" for name, value in (
        ("on_hand", level.on_hand), ("reserved", level.reserved), ("safety_stock", level.safety_stock),
        ("inbound_transfers", level.inbound_transfers), ("outbound_transfers", level.outbound_transfers),
    ) if value < 0]
    if level.reserved + level.outbound_transfers > level.on_hand + level.inbound_transfers:
        broken.append("reserved + outbound_transfers > on_hand + inbound_transfers")
    if max(level.on_hand + level.inbound_transfers, level.reserved + level.outbound_transfers) > INT_MAX:
        broken.append("more units than an INTEGER column holds")
    return broken


@dataclass(frozen=True)
class ReservationPick:
    sku: str
    location_id: str
    quantity: int


def plan_reservation(sku: str, quantity: int, levels: list[StockLevel]) -> list[ReservationPick]:
    """Choose where to hold ``quantity`` units of ``sku``.

    Prefer a single location that can serve the whole line (the one with most ATP, ties by
    id for determinism); split across locations only when no single one can.
    Raises ``OutOfStock`` when the summed ATP is short.
    """
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    candidates = sorted((lv for lv in levels if lv.sku == sku and lv.atp > 0), key=lambda lv: (-lv.atp, lv.location_id))
    available = sum(lv.atp for lv in candidates)
    if available < quantity:
        raise OutOfStock(
            f"only {available} of {sku} available, {quantity} requested",
            details={"sku": sku, "requested": quantity, "available": available},
        )
    if candidates[0].atp >= quantity:
        return [ReservationPick(sku, candidates[0].location_id, quantity)]
    picks, remaining = [], quantity
    for level in candidates:
        take = min(level.atp, remaining)
        picks.append(ReservationPick(sku, level.location_id, take))
        remaining -= take
        if remaining == 0:
            break
    return picks
