"""Product identifier validation: GTIN-8/12/13/14 (EAN/UPC) and ISBN-10/13 check digits."""

import re


def _gs1_check_digit(body: str) -> int:
    # GS1: weights 3,1,3,1... from the rightmost digit of the body.
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def is_valid_gtin(code: str) -> bool:
    """GTIN-8, UPC-A (12), EAN-13 or GTIN-14 with a correct check digit."""
    if not re.fullmatch(r"\d{8}|\d{12}|\d{13}|\d{14}", code):
        return False
    return _gs1_check_digit(code[:-1]) == int(code[-1])


def is_valid_isbn(code: str) -> bool:
    """ISBN-13 (978/979 GS1 check digit) or ISBN-10 (mod 11, final X allowed); hyphens ignored."""
    digits = code.replace("-", "").replace(" ", "").upper()
    if re.fullmatch(r"97[89]\d{10}", digits):
        return is_valid_gtin(digits)
    if re.fullmatch(r"\d{9}[\dX]", digits):
        total = sum((10 - i) * (10 if ch == "X" else int(ch)) for i, ch in enumerate(digits))
        return total % 11 == 0
    return False


def normalize_isbn(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()
