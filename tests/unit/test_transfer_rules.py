import pytest

from models.errors import Conflict, DomainError, OutOfStock
from models.inventory import StockLevel, violations
from models.transfers import (
    TRANSITIONS, InvalidTransferTransition, StockEntry, TransferAction, TransferStatus, apply, entries, plan,
    transition, validate_request,
)

S, A = TransferStatus, TransferAction


def level(location, on_hand, reserved=0, safety=0, inbound=0, outbound=0):
    return StockLevel("SKU", location, on_hand, reserved, safety, inbound, outbound)


def step(action, quantity, origin, destination, received=None):
    """Plan and apply one step to both sides, as db.transfers does."""
    changes = plan(action, quantity, origin, destination, received)
    return (apply(origin, [c for c in changes if c.side == "origin"]),
            apply(destination, [c for c in changes if c.side == "destination"]))


def test_every_state_has_a_transition_entry():
    assert set(TRANSITIONS) == set(TransferStatus)


@pytest.mark.parametrize("current,action,target", [
    (S.REQUESTED, A.SHIP, S.IN_TRANSIT),
    (S.REQUESTED, A.CANCEL, S.CANCELLED),
    (S.IN_TRANSIT, A.RECEIVE, S.RECEIVED),
])
def test_allowed_steps(current, action, target):
    assert transition(current, action) == (target, True)


@pytest.mark.parametrize("current,action", [
    (S.REQUESTED, A.REQUEST), (S.IN_TRANSIT, A.SHIP), (S.RECEIVED, A.RECEIVE), (S.CANCELLED, A.CANCEL),
])
def test_repeating_the_step_that_led_here_changes_nothing(current, action):
    assert transition(current, action) == (current, False)


@pytest.mark.parametrize("current,action", [
    (S.REQUESTED, A.RECEIVE), (S.IN_TRANSIT, A.CANCEL), (S.RECEIVED, A.SHIP), (S.RECEIVED, A.CANCEL),
    (S.CANCELLED, A.SHIP), (S.CANCELLED, A.RECEIVE), (S.IN_TRANSIT, A.REQUEST),
])
def test_other_steps_are_refused_with_a_code(current, action):
    with pytest.raises(InvalidTransferTransition) as refused:
        transition(current, action)
    assert refused.value.code == "invalid_transfer_transition" and refused.value.http_status == 409
    assert refused.value.details == {"status": current.value, "action": action.value}
    assert f"a {current} transfer cannot be" in refused.value.message


def test_atp_counts_confirmed_inbound_and_excludes_outbound():
    assert level("a", 10, reserved=3, safety=2, inbound=4, outbound=1).atp == 8
    assert level("a", 5, reserved=0, outbound=5).atp == 0
    assert level("b", 0, inbound=6).atp == 6


def test_lifecycle_moves_atp_from_origin_to_destination_and_keeps_the_invariant():
    a, b = level("a", 10, reserved=2, safety=1), level("b", 3)
    assert (a.atp, b.atp) == (7, 3)

    a, b = step(A.REQUEST, 4, a, b)
    assert (a.on_hand, a.outbound_transfers, a.atp, b.atp) == (10, 4, 3, 3), "committed, still on A's shelf"
    a, b = step(A.SHIP, 4, a, b)
    assert (a.on_hand, a.outbound_transfers, a.atp) == (6, 0, 3)
    assert (b.on_hand, b.inbound_transfers, b.atp) == (3, 4, 7), "confirmed inbound is promisable at B"
    a, b = step(A.RECEIVE, 4, a, b)
    assert (b.on_hand, b.inbound_transfers, b.atp) == (7, 0, 7)
    assert violations(a) == [] and violations(b) == []


def test_cancel_gives_the_origin_its_atp_back():
    a, b = step(A.REQUEST, 5, level("a", 5), level("b", 0))
    assert a.atp == 0
    a, _ = step(A.CANCEL, 5, a, b)
    assert (a.outbound_transfers, a.atp) == (0, 5)


def test_request_never_takes_reserved_units_or_safety_stock():
    origin = level("a", 10, reserved=6, safety=2)
    with pytest.raises(OutOfStock) as short:
        plan(A.REQUEST, 3, origin, level("b", 0))
    assert short.value.code == "insufficient_stock" and short.value.http_status == 409
    assert short.value.details == {"sku": "SKU", "requested": 3, "available": 2}
    assert plan(A.REQUEST, 2, origin, level("b", 0)) == [StockEntry("origin", "transfer_request", outbound=2)]


def test_a_request_covered_by_inbound_cannot_ship_before_the_units_arrive():
    a, b = step(A.REQUEST, 4, level("a", 0, inbound=4), level("b", 0))
    with pytest.raises(Conflict) as refused:
        plan(A.SHIP, 4, a, b)
    assert refused.value.code == "transfer_stock_not_on_hand"


def test_short_receipt_is_recorded_as_loss():
    changes = entries(A.RECEIVE, 5, received=3)
    assert changes == [
        StockEntry("destination", "transfer_in", on_hand=3, inbound=-3),
        StockEntry("destination", "transfer_loss", inbound=-2, note="2 of 5 units did not arrive"),
    ]
    _, b = step(A.RECEIVE, 5, level("a", 0), level("b", 1, inbound=5), received=3)
    assert (b.on_hand, b.inbound_transfers, b.atp) == (4, 0, 4)


def test_short_receipt_refused_when_the_missing_units_were_promised():
    destination = level("b", 0, reserved=5, inbound=5)  # a checkout promised the inbound units
    with pytest.raises(Conflict) as refused:
        plan(A.RECEIVE, 5, level("a", 0), destination, received=4)
    assert refused.value.code == "stock_below_reserved"
    assert plan(A.RECEIVE, 5, level("a", 0), destination) == entries(A.RECEIVE, 5)


@pytest.mark.parametrize("received", [-1, 6])
def test_received_quantity_is_between_zero_and_the_quantity(received):
    with pytest.raises(DomainError) as refused:
        plan(A.RECEIVE, 5, level("a", 0), level("b", 0, inbound=5), received=received)
    assert refused.value.code == "invalid_received_quantity" and refused.value.http_status == 422


def test_a_transfer_needs_two_locations_and_a_positive_quantity():
    with pytest.raises(DomainError) as same:
        validate_request("SKU", "loc_a", "loc_a", 1)
    assert same.value.code == "transfer_same_location" and same.value.http_status == 422
    with pytest.raises(DomainError) as empty:
        validate_request("SKU", "loc_a", "loc_b", 0)
    assert empty.value.code == "invalid_quantity"
    assert validate_request("SKU", "loc_a", "loc_b", 1) is None


def test_violations_mirror_the_stock_check_constraints():
    assert violations(level("a", 5, reserved=3, outbound=2)) == []
    assert violations(level("a", 5, reserved=3, outbound=3)) == [
        "reserved + outbound_transfers > on_hand + inbound_transfers"]
    assert violations(level("a", -1)) == ["on_hand < 0", "reserved + outbound_transfers > on_hand + inbound_transfers"]
    assert violations(level("a", 2_000_000_000, inbound=200_000_000)) == ["more units than an INTEGER column holds"]
