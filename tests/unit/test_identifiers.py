"""GTIN and ISBN check digits (models.identifiers)."""

import pytest

from models.identifiers import is_valid_gtin, is_valid_isbn, normalize_isbn


@pytest.mark.parametrize("code", [
    "96385074",        # GTIN-8 (EAN-8)
    "036000291452",    # GTIN-12 (UPC-A)
    "4006381333931",   # GTIN-13 (EAN-13)
    "0012345678905",   # a UPC-A written as EAN-13 with a leading zero
    "10012345678902",  # GTIN-14
])
def test_valid_gtins(code):
    assert is_valid_gtin(code)


@pytest.mark.parametrize("code", ["96385075", "036000291453", "4006381333932", "10012345678903"])
def test_wrong_check_digit_is_rejected(code):
    assert not is_valid_gtin(code)


@pytest.mark.parametrize("code", ["", "1234567", "123456789", "12345678901", "123456789012345", "40063813339a1",
                                  " 4006381333931", "4006-381333931"])
def test_wrong_length_or_characters_are_rejected(code):
    assert not is_valid_gtin(code)


@pytest.mark.parametrize("code", ["080442957X", "0-8044-2957-x", "0306406152", "9780306406157",
                                  "978-0-306-40615-7", "9790000000001"])
def test_valid_isbns(code):
    assert is_valid_isbn(code)


@pytest.mark.parametrize("code", ["0804429579", "0306406153", "9780306406158", "X804429570", "9770306406157",
                                  "12345", ""])
def test_invalid_isbns(code):
    assert not is_valid_isbn(code)


def test_isbn_normalization_drops_separators_and_uppercases_x():
    assert normalize_isbn("0-8044-2957-x") == "080442957X"
    assert normalize_isbn("978 0 306 40615 7") == "9780306406157"
