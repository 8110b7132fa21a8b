"""Promotion rules as data, and the pure engine that applies them to a cart.

No I/O and no clock: ``now`` is passed in (timezone-aware). Amounts are integer minor units.

How a cart is priced (``apply_promotions``):

* Active promotions are tried in ``(priority, id)`` order (lower priority first). One applies when
  its conditions hold (evaluated on the undiscounted cart), its code is attached if it needs one,
  and it stacks with every promotion already applied: both of a pair must list the other in
  ``stacks_with``. Nothing stacks by default, so unbounded stacking is impossible.
* Each action works on what earlier promotions left of each line (percentages compound) and is
  capped there, so no line ever goes below zero. ``applies_to="lines"`` discounts each matching
  line; ``"order"`` computes one discount on the eligible total and spreads it with ``allocate``.
* Matching lines: lines in ``conditions.categories`` or matching a ``conditions.skus`` glob (all
  lines when neither is given), minus ``exclusions`` (SKU globs, never discounted by the promotion).
* Buy X get Y: per ``buy + get`` matching units (pooled across lines), ``get`` units get
  ``basis_points`` off (free by default); the cheapest units are the ones discounted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.money import allocate, normalize_currency, percent_of

FULL_BP = 10_000
PROMOTION_ID = r"^[a-z0-9][a-z0-9_-]{0,39}$"


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TimeWindow(Rule):
    """Wall-clock bounds in an explicit IANA zone; ``ends_at`` is inclusive to the second."""

    timezone: str = Field(examples=["America/New_York"])
    starts_at: datetime | None = Field(None, description="Local wall time, no offset")
    ends_at: datetime | None = Field(None, description="Local wall time, no offset, inclusive")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}") from None
        return value

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _naive(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError("give local wall time without an offset; the zone is `timezone`")
        return value

    def _aware(self, local: datetime) -> datetime:
        return local.replace(tzinfo=ZoneInfo(self.timezone))  # DST gaps/folds: fold=0

    def contains(self, now: datetime) -> bool:
        if self.starts_at and now < self._aware(self.starts_at):
            return False
        return not (self.ends_at and now.replace(microsecond=0) > self._aware(self.ends_at))

    def boundaries(self) -> list[datetime]:
        """Instants at which ``contains`` may change (for cache expiry)."""
        edges = [self._aware(self.starts_at)] if self.starts_at else []
        return edges + ([self._aware(self.ends_at) + timedelta(seconds=1)] if self.ends_at else [])


class Conditions(Rule):
    """All given conditions must hold; an empty list means "any"."""

    segments: list[str] = Field(default_factory=list, description="Customer groups, any of")
    markets: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list, description="Cart contains a line of one of these")
    skus: list[str] = Field(default_factory=list, description="Cart contains a SKU matching one of these globs")
    min_subtotal: int | None = Field(None, ge=0, description="Undiscounted cart subtotal, promotion currency")
    window: TimeWindow | None = None

    @field_validator("markets")
    @classmethod
    def _upper_markets(cls, value: list[str]) -> list[str]:
        return [market.upper() for market in value]


class PercentOff(Rule):
    type: Literal["percent_off"] = "percent_off"
    basis_points: int = Field(gt=0, le=FULL_BP)


class FixedOff(Rule):
    """Per unit of each matching line (``lines``), or once off the order (``order``)."""

    type: Literal["fixed_off"] = "fixed_off"
    amount: int = Field(gt=0)


class FreeShipping(Rule):
    type: Literal["free_shipping"] = "free_shipping"


class BuyXGetY(Rule):
    type: Literal["buy_x_get_y"] = "buy_x_get_y"
    buy: int = Field(gt=0)
    get: int = Field(gt=0)
    basis_points: int = Field(FULL_BP, gt=0, le=FULL_BP, description="Off each 'get' unit; 10000 = free")
    max_applications: int | None = Field(None, gt=0)


Action = Annotated[PercentOff | FixedOff | FreeShipping | BuyXGetY, Field(discriminator="type")]


class PromotionRule(Rule):
    name: str = Field("", max_length=200)
    active: bool = Field(True, description="Kill switch")
    priority: int = Field(100, ge=0, description="Lower applies first")
    code_required: bool = Field(False, description="Applies only with one of its discount codes attached")
    currency: str | None = Field(None, description="Carts in another currency never get it; needed for amounts")
    conditions: Conditions = Field(default_factory=Conditions)
    actions: list[Action] = Field(min_length=1)
    applies_to: Literal["lines", "order"] = "lines"
    exclusions: list[str] = Field(default_factory=list, description="SKU globs never discounted")
    stacks_with: list[str] = Field(default_factory=list, description="Promotion ids it may combine with")

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return normalize_currency(value) if value else None

    @model_validator(mode="after")
    def _amounts_need_currency(self) -> PromotionRule:
        has_amount = self.conditions.min_subtotal is not None or any(isinstance(a, FixedOff) for a in self.actions)
        if has_amount and not self.currency:
            raise ValueError("a fixed amount or minimum subtotal needs the promotion's currency")
        return self


class Promotion(PromotionRule):
    id: str = Field(pattern=PROMOTION_ID)

    @property
    def catalog_level(self) -> bool:
        """Depends on nothing but the line itself: usable for a variant's display price."""
        return self.applies_to == "lines" and not self.code_required and self.conditions.min_subtotal is None

    def boundaries(self) -> list[datetime]:
        return self.conditions.window.boundaries() if self.conditions.window else []


def stack_allowed(a: Promotion, b: Promotion) -> bool:
    return b.id in a.stacks_with and a.id in b.stacks_with


# ---------------------------------------------------------------- inputs and results
class PromoLine(Rule):
    sku: str
    quantity: int = Field(gt=0)
    unit_price: int = Field(ge=0)
    category: str | None = None


class PricingContext(Rule):
    currency: str
    segments: list[str] = Field(default_factory=list)
    market: str | None = None
    channel: str | None = None
    codes: dict[str, str] = Field(default_factory=dict, description="Attached code -> its promotion id")


class AppliedPromotion(Rule):
    """One promotion's effect; ``allocations`` (SKU -> amount) lets a partial refund give it back."""

    promotion_id: str
    code: str | None = None
    amount: int = 0
    free_shipping: bool = False
    allocations: dict[str, int] = Field(default_factory=dict)


class LineResult(Rule):
    sku: str
    quantity: int
    unit_price: int
    subtotal: int
    discount: int


class PricingResult(Rule):
    lines: list[LineResult]
    subtotal: int
    discount_total: int
    shipping_discount_bp: int = 0
    applied: list[AppliedPromotion] = Field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return [a.code for a in self.applied if a.code]


# ---------------------------------------------------------------- engine
def apply_promotions(lines: list[PromoLine], context: PricingContext, promotions: list[Promotion],
                     now: datetime) -> PricingResult:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    subtotals = [line.unit_price * line.quantity for line in lines]
    remaining = list(subtotals)
    code_for = {pid: code for code, pid in sorted(context.codes.items(), reverse=True)}
    applied: list[tuple[Promotion, AppliedPromotion]] = []
    for promo in sorted(promotions, key=lambda p: (p.priority, p.id)):
        if not eligible(promo, lines, context, sum(subtotals), now, promo.id in code_for):
            continue
        if not all(stack_allowed(promo, other) for other, _ in applied):
            continue
        amounts = [0] * len(lines)
        for action in promo.actions:
            for i, amount in enumerate(_action_amounts(action, promo, lines, remaining)):
                amount = min(amount, remaining[i])
                amounts[i] += amount
                remaining[i] -= amount
        free = any(isinstance(a, FreeShipping) for a in promo.actions)
        if any(amounts) or free:
            allocations = {lines[i].sku: a for i, a in enumerate(amounts) if a}
            applied.append((promo, AppliedPromotion(
                promotion_id=promo.id, code=code_for.get(promo.id) if promo.code_required else None,
                amount=sum(amounts), free_shipping=free, allocations=allocations)))
    results = [LineResult(sku=line.sku, quantity=line.quantity, unit_price=line.unit_price, subtotal=sub,
                          discount=sub - left) for line, sub, left in zip(lines, subtotals, remaining)]
    return PricingResult(lines=results, subtotal=sum(subtotals), discount_total=sum(subtotals) - sum(remaining),
                         shipping_discount_bp=FULL_BP if any(a.free_shipping for _, a in applied) else 0,
                         applied=[a for _, a in applied])


def eligible(promo: Promotion, lines: list[PromoLine], context: PricingContext, subtotal: int, now: datetime,
             code_attached: bool = False) -> bool:
    cond = promo.conditions
    return (
        promo.active
        and (code_attached or not promo.code_required)
        and promo.currency in (None, context.currency)
        and (not cond.segments or bool(set(cond.segments) & set(context.segments)))
        and (not cond.markets or context.market in cond.markets)
        and (not cond.channels or context.channel in cond.channels)
        and (not (cond.categories or cond.skus) or any(_in_scope(promo, line) for line in lines))
        and (cond.min_subtotal is None or subtotal >= cond.min_subtotal)
        and (cond.window is None or cond.window.contains(now))
    )


def _in_scope(promo: Promotion, line: PromoLine) -> bool:
    cond = promo.conditions
    if not (cond.categories or cond.skus):
        return True
    return line.category in cond.categories or any(fnmatchcase(line.sku, glob) for glob in cond.skus)


def _targets(promo: Promotion, lines: list[PromoLine]) -> list[int]:
    return [i for i, line in enumerate(lines)
            if (promo.applies_to == "order" or _in_scope(promo, line))
            and not any(fnmatchcase(line.sku, glob) for glob in promo.exclusions)]


def _action_amounts(action, promo: Promotion, lines: list[PromoLine], remaining: list[int]) -> list[int]:
    amounts = [0] * len(lines)
    targets = [i for i in _targets(promo, lines) if remaining[i] > 0]
    if not targets or isinstance(action, FreeShipping):
        return amounts
    if isinstance(action, BuyXGetY):
        units = sorted((lines[i].unit_price, i) for i in targets for _ in range(lines[i].quantity))
        times = len(units) // (action.buy + action.get)
        if action.max_applications:
            times = min(times, action.max_applications)
        for price, i in units[: times * action.get]:
            amounts[i] += percent_of(price, action.basis_points)
        return amounts
    if promo.applies_to == "lines":
        for i in targets:
            amounts[i] = (percent_of(remaining[i], action.basis_points) if isinstance(action, PercentOff)
                          else action.amount * lines[i].quantity)
        return amounts
    base = sum(remaining[i] for i in targets)
    total = percent_of(base, action.basis_points) if isinstance(action, PercentOff) else min(action.amount, base)
    for i, part in zip(targets, allocate(total, [remaining[i] for i in targets])):
        amounts[i] = part
    return amounts
