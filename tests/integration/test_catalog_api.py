"""Catalog and inventory administration through HTTP against real PostgreSQL."""

import asyncio
import random
import uuid

import pytest

from db import catalog
from models.catalog import ProductCreate, VariantIn
from models.errors import Conflict
from models.identifiers import is_valid_gtin
from tests.helpers import a_session_waits_on_a_lock, eventually
from tests.integration.checkout_helpers import cart_with


def _suffix() -> str:
    return uuid.uuid4().hex[:8]


def _gtin() -> str:
    body = "".join(random.choices("0123456789", k=12))
    return next(body + d for d in "0123456789" if is_valid_gtin(body + d))


def _variant(sku: str | None = None, **overrides) -> dict:
    return {"sku": sku or f"SKU-{_suffix().upper()}", "title": "Variant", "options": {"size": "M"},
            "gtin": _gtin(), "weight_grams": 200, "prices": [{"currency": "USD", "amount": 2500}], **overrides}


async def _create(api, *, status: str = "draft", variants: list[dict] | None = None, **fields) -> dict:
    body = {"handle": f"product-{_suffix()}", "title": "Product", "status": status,
            "variants": [_variant()] if variants is None else variants, **fields}
    response = await api.post("/admin/catalog/products", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def _all_handles(api) -> set[str]:
    handles, cursor = set(), None
    while True:
        page = (await api.get("/products", params={"limit": 200, **({"cursor": cursor} if cursor else {})})).json()
        handles |= {p["handle"] for p in page["items"]}
        if not (cursor := page["next_cursor"]):
            return handles


def _code(response) -> str:
    return response.json()["error"]["code"]


async def test_create_then_get_then_list(api):
    variant = _variant(isbn="0-8044-2957-x", mpn="MPN 42",
                       prices=[{"currency": "usd", "amount": 2500}, {"currency": "EUR", "amount": 2300}])
    created = await _create(api, variants=[variant], description="Soft, warm", category="apparel")

    assert created["id"].startswith("prod_")
    assert created["status"] == "draft"
    [out] = created["variants"]
    assert out["id"].startswith("var_")
    assert (out["sku"], out["gtin"]) == (variant["sku"], variant["gtin"])
    assert (out["isbn"], out["mpn"]) == ("080442957X", "MPN 42")
    assert out["prices"] == [{"currency": "EUR", "amount": 2300}, {"currency": "USD", "amount": 2500}]
    assert (await api.get(f"/products/{created['id']}")).json() == created

    drafts = (await api.get("/products", params={"status": "draft", "limit": 200})).json()
    assert created["id"] in {p["id"] for p in drafts["items"]}
    active = (await api.get("/products", params={"status": "active", "limit": 200})).json()
    assert created["id"] not in {p["id"] for p in active["items"]}


async def test_list_pages_by_cursor_without_gaps_or_repeats(api):
    ids = {(await _create(api))["id"] for _ in range(3)}
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/products", params=params)).json()
        assert len(page["items"]) <= 2
        seen += [p["id"] for p in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert ids <= set(seen) and len(seen) == len(set(seen))
    assert (await api.get("/products", params={"limit": 0})).status_code == 422
    assert (await api.get("/products", params={"limit": 201})).status_code == 422
    assert (await api.get("/products", params={"status": "deleted"})).status_code == 422


async def test_unknown_product_is_404(api):
    response = await api.get("/products/prod_doesnotexist")
    assert response.status_code == 404 and _code(response) == "product_not_found"
    response = await api.patch("/admin/catalog/products/prod_doesnotexist", json={"title": "x"})
    assert response.status_code == 404 and _code(response) == "product_not_found"


async def test_duplicate_handle_sku_and_gtin_are_409_with_codes(api):
    existing = await _create(api)
    taken_sku, taken_gtin = existing["variants"][0]["sku"], existing["variants"][0]["gtin"]

    cases = [
        ({"handle": existing["handle"]}, "handle_taken"),
        ({"variants": [_variant(taken_sku)]}, "sku_taken"),
        ({"variants": [_variant(gtin=taken_gtin)]}, "gtin_taken"),
    ]
    for overrides, code in cases:
        body = {"handle": f"product-{_suffix()}", "title": "P", "variants": [_variant()], **overrides}
        response = await api.post("/admin/catalog/products", json=body)
        assert response.status_code == 409, response.text
        assert _code(response) == code

    added = await api.post(f"/admin/catalog/products/{existing['id']}/variants", json=_variant(taken_sku))
    assert added.status_code == 409 and _code(added) == "sku_taken"
    other = await _create(api)
    patched = await api.patch(f"/admin/catalog/variants/{other['variants'][0]['sku']}", json={"gtin": taken_gtin})
    assert patched.status_code == 409 and _code(patched) == "gtin_taken"
    assert len(await _all_handles(api) & {existing["handle"]}) == 1


async def test_bad_identifiers_are_422_with_the_rule_named(api):
    body = {"handle": f"product-{_suffix()}", "title": "P", "variants": [_variant(gtin="4006381333932")]}
    response = await api.post("/admin/catalog/products", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [(d["loc"][-1], d["type"]) for d in error["details"]] == [("gtin", "invalid_gtin")]

    bad_price = {**body, "variants": [_variant(prices=[{"currency": "USD", "amount": 25.5}])]}
    assert (await api.post("/admin/catalog/products", json=bad_price)).status_code == 422
    assert body["handle"] not in await _all_handles(api)


async def test_update_product_status_and_variant(api):
    product = await _create(api)
    sku = product["variants"][0]["sku"]

    path = f"/admin/catalog/products/{product['id']}"
    updated = await api.patch(path, json={"status": "active", "category": None})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["status"], updated.json()["category"]) == ("active", None)
    assert (await api.get(f"/products/{product['id']}")).json()["status"] == "active"
    assert (await api.patch(path, json={})).status_code == 422
    assert (await api.patch(path, json={"status": "gone"})).status_code == 422

    variant = await api.patch(f"/admin/catalog/variants/{sku}",
                              json={"options": {"size": "L"}, "gtin": None, "weight_grams": 250})
    assert variant.status_code == 200, variant.text
    changed = variant.json()
    assert (changed["options"], changed["gtin"], changed["weight_grams"]) == ({"size": "L"}, None, 250)

    euro_only = {"prices": [{"currency": "EUR", "amount": 99}]}
    priced = await api.put(f"/admin/catalog/variants/{sku}/prices", json=euro_only)
    assert priced.json()["prices"] == [{"currency": "EUR", "amount": 99}], "PUT replaces the whole price list"
    missing = await api.put("/admin/catalog/variants/NO-SUCH-SKU/prices", json={"prices": []})
    assert missing.status_code == 404 and _code(missing) == "unknown_sku"


async def test_add_variant(api):
    product = await _create(api)
    response = await api.post(f"/admin/catalog/products/{product['id']}/variants", json=_variant(title="Large"))
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "Large"
    assert len((await api.get(f"/products/{product['id']}")).json()["variants"]) == 2


def _csv(*rows: str) -> str:
    return "handle,title,sku,product_status,options,gtin,weight_grams,prices\n" + "".join(r + "\n" for r in rows)


async def test_csv_import_applies_good_products_and_reports_bad_rows(api):
    taken_sku = (await _create(api))["variants"][0]["sku"]
    good, half_bad, clash = (f"{name}-{_suffix()}" for name in ("good", "halfbad", "clash"))
    s = _suffix().upper()
    text = _csv(
        f'{good},"Good, product",G-{s}-1,active,size=M,{_gtin()},100,USD:1000;EUR:900',
        f"{good},,G-{s}-2,,size=L,,110,USD:1100",
        f"{half_bad},Half bad,H-{s}-1,active,,,100,USD:1000",
        f"{half_bad},,H-{s}-2,,,4006381333932,100,USD:10.00",  # bad GTIN and bad price
        f"{clash},Clash,{taken_sku},active,,,,USD:100",  # SKU owned by another product
    )
    response = await api.post("/admin/catalog/import", content=text, headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["created_products"], report["created_variants"], report["updated"]) == (1, 2, 0)
    assert [(e["row"], e["field"], e["code"]) for e in report["errors"]] == [
        (5, "gtin", "invalid_gtin"), (5, "prices", "invalid_price"), (6, "sku", "sku_taken")]

    handles = await _all_handles(api)
    assert good in handles
    assert half_bad not in handles and clash not in handles, "a product with a bad row is not half-written"
    [product] = [p for p in (await api.get("/products", params={"status": "active", "limit": 200})).json()["items"]
                 if p["handle"] == good]
    assert product["title"] == "Good, product"
    assert [(v["sku"], v["options"], v["prices"][-1]["amount"]) for v in product["variants"]] == [
        (f"G-{s}-1", {"size": "M"}, 1000), (f"G-{s}-2", {"size": "L"}, 1100)]

    # Re-importing updates in place; multipart uploads work the same as raw CSV.
    again = _csv(f"{good},Good product v2,G-{s}-2,,,,120,EUR:1000", f"{good},,G-{s}-3,,,,,USD:1200")
    response = await api.post("/admin/catalog/import", files={"file": ("catalog.csv", again.encode(), "text/csv")})
    report = response.json()
    assert report["errors"] == []
    assert (report["created_products"], report["created_variants"], report["updated"]) == (0, 1, 2)
    product = (await api.get(f"/products/{product['id']}")).json()
    assert product["title"] == "Good product v2"
    v2 = next(v for v in product["variants"] if v["sku"] == f"G-{s}-2")
    assert v2["weight_grams"] == 120
    assert v2["prices"] == [{"currency": "EUR", "amount": 1000}, {"currency": "USD", "amount": 1100}]


async def test_csv_dry_run_reports_but_writes_nothing(api):
    handle = f"dry-{_suffix()}"
    text = _csv(f"{handle},Dry,DRY-{_suffix().upper()},active,,,,USD:100")
    response = await api.post("/admin/catalog/import", params={"dry_run": "true"}, content=text,
                              headers={"content-type": "text/csv; charset=utf-8"})
    report = response.json()
    assert (report["created_products"], report["created_variants"], report["dry_run"]) == (1, 1, True)
    assert handle not in await _all_handles(api)


async def test_csv_import_rejects_unusable_uploads(api):
    wrong_type = await api.post("/admin/catalog/import", json={"csv": "handle,title,sku"})
    assert wrong_type.status_code == 415 and _code(wrong_type) == "unsupported_media_type"
    no_file = await api.post("/admin/catalog/import", files={"other": ("x.csv", b"handle,title,sku\n")})
    assert no_file.status_code == 422 and _code(no_file) == "csv_file_missing"
    latin1 = await api.post("/admin/catalog/import", content="handle,title,sku\nx,Caf\xe9,X\n".encode("latin-1"),
                            headers={"content-type": "text/csv"})
    assert latin1.status_code == 422 and _code(latin1) == "csv_not_utf8"
    empty = await api.post("/admin/catalog/import", content=b"", headers={"content-type": "text/csv"})
    assert empty.status_code == 200 and [e["code"] for e in empty.json()["errors"]] == ["empty_file"]


async def test_stock_set_by_ops_shows_in_atp_and_ledger(api):
    code = f"dc-{_suffix()}"
    location = await api.post("/admin/inventory/locations",
                              json={"code": code, "name": "Test DC", "region": "us-east", "country": "us"})
    assert location.status_code == 201, location.text
    assert location.json()["id"].startswith("loc_") and location.json()["country"] == "US"
    again = await api.post("/admin/inventory/locations",
                           json={"code": code, "name": "X", "region": "x", "country": "US"})
    assert again.status_code == 409 and _code(again) == "location_code_taken"
    assert code in {loc["code"] for loc in (await api.get("/admin/inventory/locations")).json()}

    sku = (await _create(api, status="active"))["variants"][0]["sku"]
    body = {"on_hand": 12, "safety_stock": 2, "reason": "receipt", "reference": "PO-1"}
    stocked = await api.put(f"/admin/inventory/{sku}/locations/{code}", json=body)
    assert stocked.status_code == 200, stocked.text
    assert stocked.json()["atp"] == 10
    assert (await api.get(f"/inventory/{sku}")).json()["atp"] == 10
    await api.put(f"/admin/inventory/{sku}/locations/{code}", json={"on_hand": 9, "reason": "count"})
    assert (await api.get(f"/inventory/{sku}")).json()["atp"] == 7, "safety stock is kept when omitted"

    ledger = (await api.get(f"/admin/inventory/{sku}/ledger")).json()
    assert [(e["delta_on_hand"], e["reason"], e["reference"], e["location_code"]) for e in ledger] == [
        (-3, "count", None, code), (12, "receipt", "PO-1", code)]

    unknown_location = await api.put(f"/admin/inventory/{sku}/locations/nowhere", json=body)
    assert unknown_location.status_code == 404 and _code(unknown_location) == "location_not_found"
    unknown_sku = await api.put(f"/admin/inventory/NO-SUCH-SKU/locations/{code}", json=body)
    assert unknown_sku.status_code == 404 and _code(unknown_sku) == "unknown_sku"
    bad_reason = await api.put(f"/admin/inventory/{sku}/locations/{code}", json={**body, "reason": "reserve"})
    assert bad_reason.status_code == 422


async def test_archived_product_can_no_longer_be_added_to_a_cart(api):
    product = await _create(api, status="active")
    sku = product["variants"][0]["sku"]
    await cart_with(api, {sku: 1})  # sellable while active

    archived = await api.patch(f"/admin/catalog/products/{product['id']}", json={"status": "archived"})
    assert archived.status_code == 200

    cart_id = (await api.post("/carts", json={"currency": "USD"})).json()["id"]
    response = await api.post(f"/carts/{cart_id}/lines", json={"sku": sku, "quantity": 1})
    assert response.status_code == 422
    assert _code(response) == "sku_not_sellable"


async def test_losing_a_race_on_a_unique_sku_is_still_a_409_code(engine):
    """Both writers pass the pre-check; the unique index decides and maps to the same code."""
    sku = f"RACE-{_suffix().upper()}"

    def product(handle: str) -> ProductCreate:
        return ProductCreate(handle=handle, title="Race", variants=[VariantIn(sku=sku, title="Race")])

    async def second_writer():
        async with engine.begin() as conn:
            await catalog.create_product(conn, product(f"race-b-{_suffix()}"))

    async with engine.begin() as first:
        await catalog.create_product(first, product(f"race-a-{_suffix()}"))
        loser = asyncio.create_task(second_writer())
        await _until_a_writer_waits_on_a_lock(engine)
    with pytest.raises(Conflict) as raised:
        await loser
    assert raised.value.code == "sku_taken"


async def _until_a_writer_waits_on_a_lock(engine):
    await eventually(lambda: a_session_waits_on_a_lock(engine), 10, interval=0.02,
                     what="the second writer to block on the unique index")
