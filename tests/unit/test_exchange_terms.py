"""Pricing an exchange (models.returns.exchange_terms): pure rules, integer minor units."""

from models.returns import PaidLine, ReturnLine, exchange_terms, replacement_units

# Paid 2000 a unit with a 10 % discount (1800) and 8 % tax on what was paid (144).
SHIRT = PaidLine(sku="TEE-M", quantity=1, unit_price=2000, line_total=1800, tax=144)


def line(sku="TEE-M", exchange_sku=None, quantity=1) -> ReturnLine:
    return ReturnLine(sku=sku, quantity=quantity, reason="size_fit", exchange_sku=exchange_sku)


def test_a_dearer_variant_costs_the_unit_price_difference_taxed_at_the_returned_lines_rate():
    terms = exchange_terms([line(exchange_sku="TEE-L")], {"TEE-M": 1}, {"TEE-M": SHIRT}, {"TEE-L": 2600}, "USD")
    assert (terms.difference_net, terms.difference_tax) == (600, 48)  # 600 × 144 / 1800
    assert terms.difference == 648 and terms.to_refund == 0
    assert terms.replacement == {"TEE-L": 1}


def test_a_cheaper_variant_refunds_the_difference_but_never_more_than_was_paid():
    cheaper = exchange_terms([line(exchange_sku="TEE-S")], {"TEE-M": 1}, {"TEE-M": SHIRT}, {"TEE-S": 1500}, "USD")
    assert cheaper.difference == -540 and cheaper.to_refund == 540  # 500 + 40 tax
    giveaway = exchange_terms([line(exchange_sku="TEE-XS")], {"TEE-M": 1}, {"TEE-M": SHIRT}, {"TEE-XS": 0}, "USD")
    assert giveaway.difference == -2160 and giveaway.to_refund == 1944, "bounded by the 1800 + 144 paid"


def test_the_same_sku_again_costs_nothing_as_exchanges_always_did():
    for chosen in (None, "TEE-M"):
        terms = exchange_terms([line(exchange_sku=chosen)], {"TEE-M": 1}, {"TEE-M": SHIRT}, {"TEE-M": 9999}, "USD")
        assert terms.difference == 0 and terms.to_refund == 0 and terms.replacement == {"TEE-M": 1}


def test_only_accepted_units_are_exchanged_and_differences_net_out():
    socks = PaidLine(sku="SOCK-M", quantity=3, unit_price=500, line_total=1500, tax=0)
    lines = [line(exchange_sku="TEE-L", quantity=2), line(sku="SOCK-M", exchange_sku="SOCK-L", quantity=3)]
    paid = {"TEE-M": SHIRT.model_copy(update={"quantity": 2, "line_total": 3600, "tax": 288}), "SOCK-M": socks}
    terms = exchange_terms(lines, {"TEE-M": 1, "SOCK-M": 2}, paid, {"TEE-L": 2600, "SOCK-L": 300}, "USD")
    assert terms.replacement == {"TEE-L": 1, "SOCK-L": 2}
    assert (terms.difference_net, terms.difference_tax) == (600 - 400, 48)
    assert replacement_units(lines, {"SOCK-M": 1}) == {"SOCK-L": 1}


def test_tax_on_a_refunded_difference_rounds_half_away_from_zero():
    odd = PaidLine(sku="TEE-M", quantity=1, unit_price=1000, line_total=1000, tax=75)  # 7.5 %
    up = exchange_terms([line(exchange_sku="TEE-L")], {"TEE-M": 1}, {"TEE-M": odd}, {"TEE-L": 1020}, "USD")
    down = exchange_terms([line(exchange_sku="TEE-S")], {"TEE-M": 1}, {"TEE-M": odd}, {"TEE-S": 980}, "USD")
    assert (up.difference_tax, down.difference_tax) == (2, -2)  # ±1.5 each way


def test_the_lines_whose_price_changed_carry_their_net_change_for_the_tax_document():
    socks = PaidLine(sku="SOCK-M", quantity=3, unit_price=500, line_total=1500, tax=0)
    lines = [line(exchange_sku="TEE-L", quantity=2), line(sku="SOCK-M", exchange_sku="SOCK-L", quantity=3),
             line(sku="CAP-M", exchange_sku="CAP-M")]
    paid = {"TEE-M": SHIRT.model_copy(update={"quantity": 2, "line_total": 3600, "tax": 288}), "SOCK-M": socks,
            "CAP-M": PaidLine(sku="CAP-M", quantity=1, unit_price=900, line_total=900, tax=72)}
    terms = exchange_terms(lines, {"TEE-M": 1, "SOCK-M": 2, "CAP-M": 1}, paid, {"TEE-L": 2600, "SOCK-L": 300}, "USD")
    assert [(changed.sku, changed.quantity, changed.net) for changed in terms.lines] == [
        ("TEE-L", 1, 600), ("SOCK-L", 2, -400)], "the same SKU again changes nothing"
    assert sum(changed.net for changed in terms.lines) == terms.difference_net


def test_terms_priced_by_an_older_build_spread_their_difference_over_the_replacement_units():
    from activities.returns import _lines_by_units
    from models.returns import ExchangeTerms

    older = ExchangeTerms(currency="USD", replacement={"TEE-L": 2, "CAP-L": 1}, difference_net=901, difference_tax=72)
    assert [(changed.sku, changed.quantity, changed.net) for changed in _lines_by_units(older)] == [
        ("CAP-L", 1, 300), ("TEE-L", 2, 601)], "every cent reported, none twice"
