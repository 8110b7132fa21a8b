"""The pure promotion engine: no fixtures, time passed in."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from models.promotions import (
    BuyXGetY, Conditions, FixedOff, FreeShipping, PercentOff, PricingContext, PromoLine, Promotion, TimeWindow,
    apply_promotions,
)

NOW = datetime(2024, 11, 29, 17, 0, tzinfo=UTC)
USD = PricingContext(currency="USD")


def promo(id: str, *actions, **fields) -> Promotion:
    return Promotion(id=id, actions=list(actions) or [PercentOff(basis_points=1000)], **fields)


def line(sku: str, quantity: int = 1, unit_price: int = 1000, category: str | None = None) -> PromoLine:
    return PromoLine(sku=sku, quantity=quantity, unit_price=unit_price, category=category)


def discounts(result) -> dict[str, int]:
    return {r.sku: r.discount for r in result.lines}


def test_percent_off_matching_lines_only():
    rule = promo("shoes10", conditions=Conditions(categories=["shoes"]))
    result = apply_promotions([line("SHOE", 2, 2500, "shoes"), line("HAT", 1, 999, "hats")], USD, [rule], NOW)
    assert discounts(result) == {"SHOE": 500, "HAT": 0}
    assert result.discount_total == 500 and result.subtotal == 5999
    assert [a.promotion_id for a in result.applied] == ["shoes10"]
    assert result.applied[0].allocations == {"SHOE": 500}


def test_order_discount_is_allocated_and_sums_exactly():
    rule = promo("order", FixedOff(amount=1000), applies_to="order", currency="USD")
    lines = [line("A", 1, 333), line("B", 1, 333), line("C", 1, 334)]
    result = apply_promotions(lines, USD, [rule], NOW)
    assert result.discount_total == 1000 and sum(discounts(result).values()) == 1000
    assert all(r.discount <= r.subtotal for r in result.lines)
    odd = apply_promotions([line("A", 3, 333), line("B", 7, 101)], USD,
                           [promo("p", PercentOff(basis_points=1234), applies_to="order")], NOW)
    assert odd.discount_total == 211  # 12.34 % of 17.06 = 2.105 -> 2.11, half up
    assert sum(r.discount for r in odd.lines) == odd.discount_total


def test_never_discounts_below_zero():
    big = promo("big", FixedOff(amount=5000), currency="USD")
    order = promo("order", FixedOff(amount=99999), applies_to="order", currency="USD", stacks_with=["big"])
    big = big.model_copy(update={"stacks_with": ["order"]})
    result = apply_promotions([line("A", 2, 1000), line("B", 1, 0)], USD, [big, order], NOW)
    assert discounts(result) == {"A": 2000, "B": 0}
    assert [a.promotion_id for a in result.applied] == ["big"], "nothing left for the order discount"
    assert all(r.subtotal - r.discount >= 0 for r in result.lines)


def test_priority_decides_and_non_stacking_blocks_later_promotions():
    first = promo("first", PercentOff(basis_points=1000), priority=10)
    second = promo("second", PercentOff(basis_points=5000), priority=20)
    result = apply_promotions([line("A", 1, 1000)], USD, [second, first], NOW)
    assert [a.promotion_id for a in result.applied] == ["first"]
    assert result.discount_total == 100


def test_stacking_needs_both_directions_and_compounds():
    a = promo("a", PercentOff(basis_points=1000), priority=1, stacks_with=["b", "c"])
    b = promo("b", PercentOff(basis_points=2000), priority=2, stacks_with=["a"])
    c = promo("c", PercentOff(basis_points=5000), priority=3, stacks_with=["a"])  # not allowed by b
    result = apply_promotions([line("A", 1, 10000)], USD, [c, b, a], NOW)
    assert [x.promotion_id for x in result.applied] == ["a", "b"]
    assert result.discount_total == 1000 + 1800  # 20 % of what 10 % left
    one_way = promo("d", PercentOff(basis_points=1000), priority=4, stacks_with=["a", "b"])
    assert "d" not in [x.promotion_id for x in apply_promotions([line("A")], USD, [a, b, one_way], NOW).applied]


def test_exclusions_are_sku_globs():
    rule = promo("sitewide", applies_to="order", exclusions=["GIFT-*", "SALE-??"])
    result = apply_promotions([line("GIFT-CARD-50", 1, 5000), line("SALE-01", 1, 1000), line("TEE", 1, 2000)],
                              USD, [rule], NOW)
    assert discounts(result) == {"GIFT-CARD-50": 0, "SALE-01": 0, "TEE": 200}


def test_sku_condition_globs_and_min_subtotal():
    rule = promo("tees", conditions=Conditions(skus=["TEE-*"], min_subtotal=3000), currency="USD")
    assert apply_promotions([line("TEE-M", 1, 2000)], USD, [rule], NOW).discount_total == 0
    result = apply_promotions([line("TEE-M", 1, 2000), line("MUG", 1, 1000)], USD, [rule], NOW)
    assert discounts(result) == {"TEE-M": 200, "MUG": 0}
    assert apply_promotions([line("TEE-M", 3, 2000)], PricingContext(currency="EUR"), [rule], NOW).applied == []


def test_buy_two_get_one_free_per_three_units_cheapest_free():
    rule = promo("b2g1", BuyXGetY(buy=2, get=1), conditions=Conditions(categories=["socks"]))
    lines = [line("RED", 4, 900, "socks"), line("BLUE", 3, 500, "socks"), line("HAT", 5, 100, "hats")]
    result = apply_promotions(lines, USD, [rule], NOW)
    assert discounts(result) == {"RED": 0, "BLUE": 1000, "HAT": 0}  # 7 socks: 2 applications, 2 cheapest free
    capped = promo("b1g1", BuyXGetY(buy=1, get=1, basis_points=5000, max_applications=1))
    assert discounts(apply_promotions([line("A", 6, 1000)], USD, [capped], NOW)) == {"A": 500}
    assert apply_promotions([line("A", 2, 1000)], USD, [rule], NOW).applied == []


def test_conditions_on_segments_markets_channels_and_codes():
    rule = promo("vip", conditions=Conditions(segments=["vip"], markets=["US"], channels=["web"]))
    vip = PricingContext(currency="USD", segments=["vip", "staff"], market="US", channel="web")
    assert apply_promotions([line("A")], vip, [rule], NOW).discount_total == 100
    for other in ({"segments": []}, {"market": "DE"}, {"channel": "pos"}):
        assert apply_promotions([line("A")], vip.model_copy(update=other), [rule], NOW).applied == []
    coded = promo("welcome", code_required=True)
    assert apply_promotions([line("A")], USD, [coded], NOW).applied == []
    with_code = USD.model_copy(update={"codes": {"WELCOME10": "welcome"}})
    applied = apply_promotions([line("A")], with_code, [coded], NOW).applied
    assert [(a.promotion_id, a.code) for a in applied] == [("welcome", "WELCOME10")]


def test_inactive_promotion_is_killed():
    assert apply_promotions([line("A")], USD, [promo("off", active=False)], NOW).applied == []


def test_free_shipping_applies_without_a_line_discount():
    result = apply_promotions([line("A")], USD, [promo("ship", FreeShipping())], NOW)
    assert result.shipping_discount_bp == 10000 and result.discount_total == 0
    assert result.applied[0].free_shipping


def test_window_end_in_new_york_is_inclusive_to_the_second_and_over_at_utc_next_day():
    window = TimeWindow(timezone="America/New_York", ends_at=datetime(2024, 11, 29, 23, 59, 59))
    rule = promo("bf", conditions=Conditions(window=window))

    def at(*args) -> int:
        return apply_promotions([line("A")], USD, [rule], datetime(*args, tzinfo=UTC)).discount_total

    assert at(2024, 11, 30, 4, 59, 59, 999999) == 100  # 23:59:59.999 in New York (EST, UTC-5)
    assert at(2024, 11, 30, 5, 0, 0) == 0  # midnight in New York
    assert at(2024, 11, 30, 1, 0) == 100  # already the 30th in UTC, still the 29th in New York


def test_window_start_at_local_midnight_follows_daylight_saving():
    summer = TimeWindow(timezone="America/New_York", starts_at=datetime(2024, 7, 4, 0, 0))
    assert not summer.contains(datetime(2024, 7, 4, 3, 59, 59, tzinfo=UTC))
    assert summer.contains(datetime(2024, 7, 4, 4, 0, tzinfo=UTC))  # EDT, UTC-4
    tokyo = TimeWindow(timezone="Asia/Tokyo", starts_at=datetime(2024, 1, 1), ends_at=datetime(2024, 1, 1, 23, 59, 59))
    assert tokyo.contains(datetime(2023, 12, 31, 15, 0, tzinfo=UTC))
    assert not tokyo.contains(datetime(2024, 1, 1, 15, 0, tzinfo=UTC))


def test_rules_are_validated():
    with pytest.raises(ValidationError):
        TimeWindow(timezone="Mars/Olympus_Mons")
    with pytest.raises(ValidationError):
        TimeWindow(timezone="UTC", ends_at=datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(ValidationError, match="currency"):
        promo("x", FixedOff(amount=100))
    with pytest.raises(ValidationError):
        promo("x", PercentOff(basis_points=10001))
    with pytest.raises(ValidationError):
        Promotion(id="Bad Id", actions=[FreeShipping()])
    with pytest.raises(ValueError):
        apply_promotions([line("A")], USD, [], datetime(2024, 1, 1))


def test_rules_round_trip_as_json():
    rule = promo("all", BuyXGetY(buy=2, get=1), FreeShipping(), conditions=Conditions(
        window=TimeWindow(timezone="Europe/Paris", starts_at=datetime(2024, 1, 1))))
    assert Promotion.model_validate_json(rule.model_dump_json()) == rule
