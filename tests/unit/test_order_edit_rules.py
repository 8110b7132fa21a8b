"""The pure rules of an order edit: quantities, repricing, which parcels may change, payment, re-planning."""

import pytest

from models.commerce import Address
from models.errors import DomainError
from models.order_edits import (
    EditedLine, EditLine, OrderEditRequest, check_parcels, edit_id_for, edit_problem, new_quantities,
    payment_adjustment, replan, request_hash, requantified, unit_deltas,
)

ADDRESS = Address(name="Ada", line1="1 Main St", city="San Francisco", region="CA", postal_code="94105", country="US")


def _request(lines=(), address=None) -> OrderEditRequest:
    return OrderEditRequest(lines=[EditLine(sku=s, quantity=q) for s, q in lines], shipping_address=address,
                            reason="customer asked")


def _parcel(pid, items, status="pending_pack", shipped=False, captured=False, location="loc-a"):
    return {"id": pid, "status": status, "shipped_at": "2026-01-01" if shipped else None,
            "capture_amount": 100 if captured else None, "items": items, "location_id": location}


def test_quantities_zero_removes_a_line_and_a_new_sku_adds_one():
    wanted = new_quantities({"A": 2, "B": 1}, _request([("A", 0), ("C", 3)]))
    assert wanted == {"B": 1, "C": 3}
    assert unit_deltas({"A": 2, "B": 1}, wanted) == ({"C": 3}, {"A": 2})


def test_an_edit_without_lines_or_address_or_with_a_sku_twice_is_malformed():
    assert edit_problem(_request()) is not None
    assert edit_problem(_request([("A", 1), ("A", 2)])) is not None
    assert edit_problem(_request(address=ADDRESS)) is None


def test_an_existing_line_keeps_its_unit_price_and_its_discount_pro_rata():
    line = EditedLine(sku="A", title="a", quantity=3, unit_price=1000, discount=301)
    more, fewer = requantified(line, 4), requantified(line, 1)
    assert (more.unit_price, more.discount, more.line_total) == (1000, 401, 3599)
    assert (fewer.discount, fewer.line_total) == (100, 900)


@pytest.mark.parametrize("old, new, captured, expected", [
    (5000, 5000, 0, ("none", 0)),
    (5000, 3000, 0, ("lower_capture", 2000)),
    (5000, 3000, 5000, ("refund", 2000)),
    (5000, 3000, 2500, ("lower_capture", 2000)),  # multicapture: what is left to capture shrinks
    (5000, 7000, 0, ("increase", 2000)),
])
def test_the_payment_follows_the_new_total(old, new, captured, expected):
    adjustment = payment_adjustment(old, new, captured)
    assert (adjustment.action, adjustment.amount) == expected


def test_a_higher_total_after_a_capture_is_refused():
    with pytest.raises(DomainError) as refused:
        payment_adjustment(5000, 7000, 100)
    assert refused.value.code == "payment_increase_not_possible"


def test_a_line_in_a_shipped_or_packed_parcel_cannot_change_but_others_can():
    parcels = [_parcel("s1", {"A": 1}, status="shipped", shipped=True, captured=True),
               _parcel("s2", {"B": 1}, status="packed"), _parcel("s3", {"C": 1})]
    with pytest.raises(DomainError) as shipped:
        check_parcels(parcels, {"A"}, address_changed=False)
    assert shipped.value.code == "line_already_shipped"
    with pytest.raises(DomainError) as packed:
        check_parcels(parcels, {"B"}, address_changed=False)
    assert packed.value.code == "line_already_packed"
    check_parcels(parcels, {"C", "D"}, address_changed=False)


def test_a_new_address_skips_shipped_parcels_but_not_packed_ones():
    check_parcels([_parcel("s1", {"A": 1}, status="shipped", shipped=True, captured=True), _parcel("s2", {"C": 1})],
                  set(), address_changed=True)
    with pytest.raises(DomainError) as packed:
        check_parcels([_parcel("s2", {"B": 1}, status="label_purchased")], set(), address_changed=True)
    assert packed.value.code == "line_already_packed"


def test_replan_dissolves_touched_unpacked_parcels_and_regroups_by_location():
    parcels = [_parcel("s1", {"A": 2, "B": 1}, location="loc-a"), _parcel("s2", {"C": 1}, location="loc-b")]
    dissolved, planned = replan(parcels, removed={"A": 1}, added_holds=[("D", "loc-a", 2), ("D", "loc-c", 1)],
                                changed_skus={"A", "D"})
    assert dissolved == ["s1"]  # s2 holds nothing that changes: it stays as it is
    assert planned == {"loc-a": {"A": 1, "B": 1, "D": 2}, "loc-c": {"D": 1}}


def test_added_units_join_the_unpacked_parcel_already_at_their_location():
    dissolved, planned = replan([_parcel("s1", {"A": 1}, location="loc-a")], removed={},
                                added_holds=[("D", "loc-a", 1)], changed_skus={"D"})
    assert dissolved == ["s1"] and planned == {"loc-a": {"A": 1, "D": 1}}


def test_replan_of_a_removed_line_leaves_no_empty_parcel():
    dissolved, planned = replan([_parcel("s1", {"A": 2})], removed={"A": 2}, added_holds=[], changed_skus={"A"})
    assert dissolved == ["s1"] and planned == {}


def test_edit_ids_and_request_hashes_are_stable():
    assert edit_id_for("ord_1", "key") == edit_id_for("ord_1", "key") != edit_id_for("ord_2", "key")
    assert request_hash(_request([("A", 1)])) == request_hash(_request([("A", 1)])) != request_hash(_request([("A", 2)]))
