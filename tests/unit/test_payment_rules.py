"""What one parcel's capture takes, with and without multicapture."""

import pytest

from models.payments import parcel_capture


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
