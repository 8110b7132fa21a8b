"""Price lists: per-currency overrides of base prices for a customer group, market or period.

Resolution rule (``db.pricing``): a variant's price for a cart is the lowest of its base price in
the cart's currency and every applicable list price. A list applies when it is active, has the
cart's currency, its ``customer_group`` (if any) is one of the customer's groups, its ``market``
(if any) is the cart's market, and ``starts_at <= now < ends_at`` (open ends allowed). A list
never makes a variant sellable on its own: the base price must exist.
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.catalog import MAX_AMOUNT
from models.money import normalize_currency
from models.promotions import PROMOTION_ID


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PriceListFields(_Strict):
    name: str = Field(min_length=1, max_length=200)
    currency: str = Field(min_length=3, max_length=3)
    customer_group: str | None = Field(None, max_length=50)
    market: str | None = Field(None, max_length=20)
    active: bool = True
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return normalize_currency(value)

    @field_validator("market")
    @classmethod
    def _upper_market(cls, value: str | None) -> str | None:
        return value.upper() if value else None

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give an offset (e.g. 2024-11-29T00:00:00-05:00)")
        return value

    @model_validator(mode="after")
    def _ordered(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class PriceListCreate(PriceListFields):
    id: str = Field(pattern=PROMOTION_ID, examples=["wholesale-usd"])


class ListPrice(_Strict):
    sku: str = Field(min_length=1, max_length=64)
    amount: int = Field(ge=0, le=MAX_AMOUNT)


class PriceListPricesSet(_Strict):
    prices: list[ListPrice] = Field(max_length=10_000)


class PriceListOut(PriceListCreate):
    prices: list[ListPrice] = Field(default_factory=list)
