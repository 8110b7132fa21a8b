"""Catalog input validation and CSV parsing (models.catalog), no I/O."""

import pytest
from pydantic import ValidationError

from models.catalog import PricesSet, ProductCreate, ProductUpdate, VariantIn, VariantUpdate, parse_catalog_csv

HEADER = "handle,title,sku,options,gtin,isbn,weight_grams,prices\n"


def _error_types(exc: pytest.ExceptionInfo) -> set[str]:
    return {e["type"] for e in exc.value.errors()}


def _variant(**overrides) -> dict:
    return {"sku": "TEE-BLK-M", "title": "Tee", **overrides}


def test_product_defaults_to_draft_and_normalizes_identifiers():
    product = ProductCreate(handle="classic-tee", title="  Classic Tee ", variants=[_variant(
        gtin="036000291452", isbn="0-8044-2957-x", prices=[{"currency": "eur", "amount": 2300}])])
    assert product.status == "draft"
    assert product.title == "Classic Tee"
    variant = product.variants[0]
    assert variant.gtin == "036000291452", "a UPC-A is stored as given, not padded"
    assert variant.isbn == "080442957X"
    assert variant.prices[0].currency == "EUR"


@pytest.mark.parametrize(("field", "value", "code"), [
    ("gtin", "4006381333932", "invalid_gtin"),
    ("gtin", "12345", "invalid_gtin"),
    ("isbn", "0306406153", "invalid_isbn"),
    ("sku", "tee-blk-m", "invalid_sku"),
    ("sku", "TEE BLK", "invalid_sku"),
    ("sku", "A" * 65, "string_too_long"),
    ("weight_grams", -1, "greater_than_equal"),
    ("status", "deleted", "literal_error"),
    ("options", {"color": ""}, "invalid_options"),
    ("mpn", "x" * 101, "string_too_long"),
])
def test_variant_field_rules(field, value, code):
    with pytest.raises(ValidationError) as exc:
        VariantIn(**_variant(**{field: value}))
    assert code in _error_types(exc)


@pytest.mark.parametrize(("prices", "code"), [
    ([{"currency": "USD", "amount": 1}, {"currency": "usd", "amount": 2}], "duplicate_currency"),
    ([{"currency": "XXX", "amount": 1}], "unsupported_currency"),
    ([{"currency": "USD", "amount": 25.0}], "int_type"),
    ([{"currency": "USD", "amount": "2500"}], "int_type"),
    ([{"currency": "USD", "amount": -1}], "greater_than_equal"),
])
def test_prices_are_whole_minor_units_once_per_currency(prices, code):
    with pytest.raises(ValidationError) as exc:
        PricesSet(prices=prices)
    assert code in _error_types(exc)


@pytest.mark.parametrize("handle", ["Classic-Tee", "classic tee", "-tee", "tee--shirt", ""])
def test_handle_must_be_a_slug(handle):
    with pytest.raises(ValidationError):
        ProductCreate(handle=handle, title="Tee")


def test_repeated_sku_or_gtin_in_one_request_is_rejected():
    with pytest.raises(ValidationError) as exc:
        ProductCreate(handle="tee", title="Tee", variants=[_variant(), _variant(title="Other")])
    assert "duplicate_sku" in _error_types(exc)
    with pytest.raises(ValidationError) as exc:
        ProductCreate(handle="tee", title="Tee", variants=[_variant(gtin="96385074"),
                                                            _variant(sku="B", gtin="96385074")])
    assert "duplicate_gtin" in _error_types(exc)


def test_patches_change_only_what_was_sent():
    assert ProductUpdate(status="archived").changes() == {"status": "archived"}
    assert ProductUpdate(category=None).changes() == {"category": None}
    assert VariantUpdate(gtin=None).changes() == {"gtin": None}
    with pytest.raises(ValidationError) as exc:
        ProductUpdate()
    assert "no_changes" in _error_types(exc)
    with pytest.raises(ValidationError) as exc:
        ProductUpdate(title=None)
    assert "not_nullable" in _error_types(exc)
    with pytest.raises(ValidationError):
        VariantUpdate(sku="NEW-SKU")  # SKUs are stable


# ---------------------------------------------------------------- CSV
def test_csv_groups_rows_by_handle_and_reads_cells():
    text = (HEADER
            + "classic-tee,Classic Tee,TEE-M,color=black;size=M,4006381333931,,180,USD:2500;EUR:2300\n"
            + "mug,Mug,MUG-1,,,,350,USD:1800\n"
            + "classic-tee,,TEE-L,color=black;size=L,,,190,USD:2500\n")
    products, errors = parse_catalog_csv(text)
    assert errors == []
    assert [p.handle for p in products] == ["classic-tee", "mug"]
    tee = products[0]
    assert [r.sku for r in tee.rows] == ["TEE-M", "TEE-L"]
    first = tee.rows[0]
    assert first.options == {"color": "black", "size": "M"}
    assert [(p.currency, p.amount) for p in first.prices] == [("USD", 2500), ("EUR", 2300)]
    assert first.weight_grams == 180
    assert tee.rows[1].new_variant(tee.title).title == "Classic Tee"


def test_csv_quoted_commas_newlines_and_bom():
    text = ('\ufeffhandle,title,sku,description\n'
            'desk-lamp,"Lamp, brass",LAMP-1,"Warm light,\nsolid brass"\n'
            'desk-lamp,,LAMP-2,\n'
            'bad handle,X,X-1,\n')
    products, errors = parse_catalog_csv(text)
    assert products[0].title == "Lamp, brass"
    assert products[0].description == "Warm light,\nsolid brass"
    assert [(e.row, e.code) for e in errors] == [(5, "invalid_handle")], "rows are file lines, header is 1"


def test_csv_header_problems_reject_the_whole_file():
    products, errors = parse_catalog_csv("handle,titel,price_usd\ntee,Tee,2500\n")
    assert products == []
    assert {(e.field, e.code) for e in errors} == {
        ("titel", "unknown_column"), ("price_usd", "unknown_column"),
        ("title", "missing_column"), ("sku", "missing_column")}
    assert {e.row for e in errors} == {1}
    _, errors = parse_catalog_csv("handle,title,sku,sku\n")
    assert [e.code for e in errors] == ["duplicate_column"]


@pytest.mark.parametrize("text", ["", "\ufeff", "\n\n  \n"])
def test_empty_file(text):
    assert parse_catalog_csv(text) == ([], [parse_catalog_csv("")[1][0]])
    assert parse_catalog_csv(text)[1][0].code == "empty_file"


def test_header_only_file_is_valid_and_empty():
    assert parse_catalog_csv("handle,title,sku\r\n") == ([], [])


@pytest.mark.parametrize(("prices", "code"), [
    ("USD:25.00", "invalid_price"), ("USD:-5", "invalid_price"), ("USD", "invalid_price"),
    ("XXX:100", "unsupported_currency"), ("USD:1;usd:2", "duplicate_currency"),
])
def test_csv_bad_price_skips_the_product_and_names_row_and_field(prices, code):
    text = HEADER + f"tee,Tee,TEE-1,,,,,{prices}\ntee,,TEE-2,,,,,USD:100\nmug,Mug,MUG-1,,,,,USD:100\n"
    products, errors = parse_catalog_csv(text)
    assert [p.handle for p in products] == ["mug"], "no half-imported product"
    assert [(e.row, e.field, e.code) for e in errors] == [(2, "prices", code)]


def test_csv_duplicate_sku_and_gtin_within_the_file():
    text = (HEADER + "tee,Tee,TEE-1,,96385074,,,\n"
            + "mug,Mug,TEE-1,,,,,\n"
            + "cap,Cap,CAP-1,,96385074,,,\n"
            + "hat,Hat,HAT-1,,,,,\n")
    products, errors = parse_catalog_csv(text)
    assert [p.handle for p in products] == ["tee", "hat"]
    assert [(e.row, e.code) for e in errors] == [(3, "duplicate_sku"), (4, "duplicate_gtin")]
    assert "row 2" in errors[0].message


def test_csv_row_level_rules():
    text = (HEADER + "tee,,TEE-1,,,,,\n"                     # first row of a product lacks a title
            + "mug,Mug,MUG-1,color,,,,\n"                  # options without '='
            + "book,Book,BOOK-1,,,9780306406158,,\n"      # bad ISBN check digit
            + "cap,Cap,CAP-1,,,,heavy,\n"                  # weight not a number
            + "pen,Pen,pen-1,,,,,\n"                       # lowercase SKU
            + "lamp,Lamp,LAMP-1,,,,,,extra\n"              # more cells than columns
            + "cup,Cup,CUP-1,,,,,\n" + "cup,Mug,CUP-2,,,,,\n")  # rows disagree on the title
    products, errors = parse_catalog_csv(text)
    assert products == []
    assert [(e.row, e.code) for e in errors] == [
        (2, "missing_title"), (3, "invalid_options"), (4, "invalid_isbn"), (5, "int_parsing"), (6, "invalid_sku"),
        (7, "too_many_cells"), (9, "conflicting_product_field")]


def test_csv_missing_required_cell_is_reported_as_missing():
    products, errors = parse_catalog_csv("handle,title,sku\ntee,Tee,\n")
    assert products == []
    assert [(e.row, e.field, e.code) for e in errors] == [(2, "sku", "missing")]
