import pytest
from pydantic import ValidationError

from models.money import CurrencyMismatch, Money, allocate, percent_of


def test_money_refuses_floats_and_unknown_currencies():
    with pytest.raises(ValidationError):
        Money(amount=10.5, currency="USD")
    with pytest.raises(ValidationError):
        Money(amount=10, currency="XXX")
    assert Money(amount=10, currency="usd").currency == "USD"


def test_arithmetic_keeps_currency_and_refuses_mixing():
    total = Money(amount=250, currency="EUR") + Money(amount=5, currency="EUR")
    assert total == Money(amount=255, currency="EUR")
    assert Money(amount=250, currency="EUR").times(3).amount == 750
    with pytest.raises(CurrencyMismatch):
        Money(amount=1, currency="EUR") + Money(amount=1, currency="USD")


def test_display_uses_the_minor_unit_exponent():
    assert str(Money(amount=123456, currency="USD")) == "1234.56 USD"
    assert str(Money(amount=1500, currency="JPY")) == "1500 JPY"
    assert str(Money(amount=-5, currency="KWD")) == "-0.005 KWD"


def test_percent_rounds_half_up():
    assert percent_of(5000, 725) == 363  # 362.5 → 363
    assert percent_of(1000, 725) == 73  # 72.5 → 73
    assert percent_of(999, 0) == 0


@pytest.mark.parametrize("total,weights", [(100, [1, 1, 1]), (7, [5, 3, 2]), (0, [1, 2]), (1001, [333, 333, 334]),
                                           (5, [0, 0])])
def test_allocation_sums_exactly(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert len(parts) == len(weights)
    assert all(p >= 0 for p in parts)


def test_allocation_is_proportional_with_largest_remainders():
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(10, [3, 1]) == [8, 2]  # 7.5 and 2.5: tie goes to the first line
