"""Money as integer minor units plus an ISO 4217 currency. Never floats."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Minor-unit exponent per supported currency (ISO 4217). Amounts are always stored
# in the minor unit, so the exponent only matters for display and provider calls.
CURRENCY_EXPONENTS: dict[str, int] = {
    "USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "AUD": 2, "CHF": 2, "SEK": 2, "NOK": 2,
    "DKK": 2, "PLN": 2, "NZD": 2, "MXN": 2, "BRL": 2, "INR": 2, "CNY": 2, "SGD": 2,
    "HKD": 2, "JPY": 0, "KRW": 0, "CLP": 0, "KWD": 3, "BHD": 3,
}


_MAJOR_RE = re.compile(r"[0-9]{1,15}(\.[0-9]{1,6})?")


class CurrencyMismatch(ValueError):
    pass


def normalize_currency(code: str) -> str:
    upper = code.strip().upper()
    if upper not in CURRENCY_EXPONENTS:
        raise ValueError(f"unsupported currency {code!r}")
    return upper


class Money(BaseModel):
    model_config = ConfigDict(frozen=True)

    amount: int = Field(description="Amount in the currency's minor unit (e.g. cents)")
    currency: str = Field(description="ISO 4217 code")

    @field_validator("amount", mode="before")
    @classmethod
    def _no_floats(cls, value: object) -> object:
        if isinstance(value, float) or isinstance(value, bool):
            raise ValueError("money amounts are integers in minor units")
        return value

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        return normalize_currency(value)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(amount=0, currency=currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def times(self, quantity: int) -> Money:
        return Money(amount=self.amount * quantity, currency=self.currency)

    def __str__(self) -> str:
        exp = CURRENCY_EXPONENTS[self.currency]
        sign = "-" if self.amount < 0 else ""
        whole, frac = divmod(abs(self.amount), 10**exp) if exp else (abs(self.amount), 0)
        return f"{sign}{whole}.{frac:0{exp}d} {self.currency}" if exp else f"{sign}{whole} {self.currency}"


def to_major(amount: int, currency: str) -> Decimal:
    """Minor units to an exact decimal in major units (provider edge only)."""
    return Decimal(amount).scaleb(-CURRENCY_EXPONENTS[normalize_currency(currency)])


def from_major(value: str | int | Decimal, currency: str) -> int:
    """A provider's decimal amount (string, never float) to integer minor units, half up."""
    exponent = CURRENCY_EXPONENTS[normalize_currency(currency)]
    return int(Decimal(str(value)).scaleb(exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_major(text: str, currency: str) -> int:
    """An amount a person typed in major units ("12.50") to minor units, exactly (Decimal, no float).

    Refuses anything but plain positive decimals, and more decimals than the currency has
    (``12.345 USD`` is a typo, not something to round).
    """
    exponent = CURRENCY_EXPONENTS[normalize_currency(currency)]
    cleaned = text.strip()
    if not _MAJOR_RE.fullmatch(cleaned):
        raise ValueError(f"{text.strip()[:40]!r} is not an amount like 12.50")
    scaled = Decimal(cleaned).scaleb(exponent)
    if scaled != scaled.to_integral_value():
        places = f"at most {exponent} decimals" if exponent else "no decimals"
        raise ValueError(f"{normalize_currency(currency)} amounts have {places}")
    minor = int(scaled)
    if minor <= 0:
        raise ValueError("the amount must be more than zero")
    return minor


def percent_of(amount: int, basis_points: int) -> int:
    """Round-half-up share of an integer amount, in basis points (1% = 100 bp)."""
    return (amount * basis_points + 5000) // 10000


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` across ``weights`` proportionally; parts sum exactly to total.

    Largest-remainder method so a tax or discount spread over lines never loses a cent.
    """
    if not weights:
        return []
    weight_sum = sum(weights)
    if weight_sum == 0:
        parts = [0] * len(weights)
        parts[0] = total
        return parts
    raw = [total * w for w in weights]
    parts = [r // weight_sum for r in raw]
    remainders = sorted(range(len(weights)), key=lambda i: (-(raw[i] % weight_sum), i))
    for i in remainders[: total - sum(parts)]:
        parts[i] += 1
    return parts
