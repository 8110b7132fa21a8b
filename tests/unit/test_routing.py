import pytest

from models.errors import OutOfStock
from models.routing import Allocation, Location, route

EAST, WEST, CENTRAL = Location("loc_e", "us-east"), Location("loc_w", "us-west"), Location("loc_c", "us-central")
ALL = [EAST, WEST, CENTRAL]


def test_single_closest_location_that_has_everything():
    available = {("loc_e", "A"): 5, ("loc_e", "B"): 5, ("loc_w", "A"): 5, ("loc_w", "B"): 5}
    assert route({"A": 1, "B": 2}, available, ALL, "us-west") == [Allocation("loc_w", "A", 1),
                                                                    Allocation("loc_w", "B", 2)]


def test_fewest_locations_beats_closeness():
    # East is far from a west-coast customer but has both; west has only A.
    available = {("loc_e", "A"): 1, ("loc_e", "B"): 1, ("loc_w", "A"): 1}
    assert {a.location_id for a in route({"A": 1, "B": 1}, available, ALL, "us-west")} == {"loc_e"}


def test_two_locations_chosen_by_distance_when_no_single_one_suffices():
    available = {("loc_e", "A"): 1, ("loc_c", "A"): 1, ("loc_c", "B"): 1, ("loc_w", "B"): 1}
    plan = route({"A": 1, "B": 1}, available, ALL, "us-west")
    # Central holds both lines, so one parcel from there wins over two closer ones.
    assert plan == [Allocation("loc_c", "A", 1), Allocation("loc_c", "B", 1)]
    del available[("loc_c", "B")]
    plan = route({"A": 1, "B": 1}, available, ALL, "us-west")
    assert plan == [Allocation("loc_c", "A", 1), Allocation("loc_w", "B", 1)]


def test_a_line_is_never_split_when_one_location_can_serve_it():
    # Splitting A between west and central would avoid east, but east can ship A whole.
    available = {("loc_e", "A"): 4, ("loc_w", "A"): 2, ("loc_c", "A"): 2}
    assert route({"A": 4}, available, ALL, "us-west") == [Allocation("loc_e", "A", 4)]


def test_split_only_when_no_single_location_can_serve_the_line():
    available = {("loc_e", "A"): 2, ("loc_w", "A"): 3, ("loc_c", "A"): 1}
    plan = route({"A": 5}, available, ALL, "us-west")
    assert plan == [Allocation("loc_w", "A", 3), Allocation("loc_e", "A", 2)]
    assert sum(a.quantity for a in plan) == 5


def test_not_enough_anywhere_is_out_of_stock():
    with pytest.raises(OutOfStock) as short:
        route({"A": 9, "B": 1}, {("loc_e", "A"): 2, ("loc_e", "B"): 1}, ALL, "us-east")
    assert short.value.details == {"skus": ["A"]}


def test_custom_distance_table():
    available = {("loc_e", "A"): 1, ("loc_w", "A"): 1}
    table = {"us-east": {"eu": 1}, "us-west": {"eu": 9}}
    assert route({"A": 1}, available, [EAST, WEST], "eu", table) == [Allocation("loc_e", "A", 1)]
