"""Amounts typed by people (the support console) to minor units: exact, or refused."""

import pytest

from models.money import parse_major


@pytest.mark.parametrize(("text", "currency", "minor"), [
    ("12.50", "USD", 1250), (" 12.5 ", "usd", 1250), ("0.01", "USD", 1), ("12.500", "USD", 1250),
    ("1000", "JPY", 1000), ("1.234", "KWD", 1234), ("0.1", "USD", 10), ("19.99", "EUR", 1999),
])
def test_major_units_become_exact_minor_units(text, currency, minor):
    assert parse_major(text, currency) == minor


@pytest.mark.parametrize(("text", "currency", "message"), [
    ("12.345", "USD", "at most 2 decimals"), ("1.5", "JPY", "no decimals"), ("0", "USD", "more than zero"),
    ("0.00", "USD", "more than zero"), ("-5", "USD", "not an amount"), ("1e3", "USD", "not an amount"),
    ("NaN", "USD", "not an amount"), ("1,000.00", "USD", "not an amount"), ("", "USD", "not an amount"),
    ("12.5.0", "USD", "not an amount"), ("١٢", "USD", "not an amount"),  # non-ASCII digits
])
def test_anything_else_is_refused_not_rounded(text, currency, message):
    with pytest.raises(ValueError, match=message):
        parse_major(text, currency)


def test_unknown_currency_is_refused():
    with pytest.raises(ValueError, match="unsupported currency"):
        parse_major("1.00", "XYZ")
