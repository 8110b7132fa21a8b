import pytest

from models.errors import OutOfStock
from models.inventory import ReservationPick, StockLevel, atp, plan_reservation


def test_atp_subtracts_reserved_and_safety_stock_and_counts_transfers():
    assert atp(on_hand=10, reserved=3, safety_stock=2) == 5
    assert atp(on_hand=10, reserved=3, safety_stock=2, inbound=4, outbound=1) == 8
    assert atp(on_hand=2, reserved=2, safety_stock=5) == 0, "never negative"


def levels(*rows):
    return [StockLevel("SKU", loc, on_hand, reserved, safety) for loc, on_hand, reserved, safety in rows]


def test_single_location_preferred_when_it_can_serve_the_line():
    picks = plan_reservation("SKU", 4, levels(("a", 5, 0, 0), ("b", 9, 0, 0)))
    assert picks == [ReservationPick("SKU", "b", 4)]


def test_split_only_when_no_single_location_suffices():
    picks = plan_reservation("SKU", 7, levels(("a", 5, 1, 0), ("b", 4, 0, 0)))
    assert picks == [ReservationPick("SKU", "a", 4), ReservationPick("SKU", "b", 3)]
    assert sum(p.quantity for p in picks) == 7


def test_safety_stock_is_not_promised():
    with pytest.raises(OutOfStock) as short:
        plan_reservation("SKU", 5, levels(("a", 5, 0, 1)))
    assert short.value.details == {"sku": "SKU", "requested": 5, "available": 4}


def test_ties_are_broken_deterministically():
    assert plan_reservation("SKU", 1, levels(("b", 3, 0, 0), ("a", 3, 0, 0))) == [ReservationPick("SKU", "a", 1)]


def test_non_positive_quantity_is_a_programming_error():
    with pytest.raises(ValueError):
        plan_reservation("SKU", 0, levels(("a", 1, 0, 0)))
