"""Payment rules: what one parcel's capture takes, and what an authorization still holds."""

import pytest

from models.errors import DomainError
from models.payments import PaymentTotals, check_capture, parcel_capture, reauthorization_ref, reauthorized_order


@pytest.mark.parametrize("share, uncaptured, expected", [
    (2656, 5812, 2656),  # first of two parcels: its share
    (3156, 3156, 3156),  # the last: the rest
    (3156, 1000, 1000),  # never more than is left
    (500, 0, 0),         # paid up front (subscription renewal): nothing
])
def test_with_multicapture_each_parcel_pays_its_share(share, uncaptured, expected):
    assert parcel_capture(share, uncaptured, multicapture=True) == expected


def test_without_multicapture_the_first_parcel_captures_the_whole_order_and_later_ones_nothing():
    total = 5812
    first = parcel_capture(2656, total, multicapture=False)
    second = parcel_capture(3156, total - first, multicapture=False)
    assert (first, second) == (total, 0)


def test_authorized_is_captured_plus_released_plus_held():
    held = PaymentTotals(authorized=5000, captured=2000)  # multicapture, more to come
    single = PaymentTotals(authorized=5000, captured=2000, closed=True)  # the rest went back to the card
    voided = PaymentTotals(authorized=5000, voided=True)
    assert [(t.captured, t.released, t.held) for t in (held, single, voided)] == [
        (2000, 0, 3000), (2000, 3000, 0), (0, 5000, 0)]


def test_a_second_capture_of_a_single_capture_authorization_is_refused():
    with pytest.raises(DomainError) as refused:
        check_capture(PaymentTotals(authorized=5000, captured=2000, closed=True), 1000)
    assert refused.value.code == "capture_exceeds_authorized"
    check_capture(PaymentTotals(authorized=5000, captured=2000), 3000)  # with multicapture it may go on


def test_a_renewed_authorization_names_its_order_and_a_checkout_names_none():
    assert reauthorized_order(reauthorization_ref("ord_abc", 2)) == "ord_abc"
    assert reauthorized_order("chk_abc") is None
