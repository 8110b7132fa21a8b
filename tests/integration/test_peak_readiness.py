"""Peak readiness at the API edge: backpressure, health probes, metrics, body limits, hostile strings."""

import socket
import uuid

import pytest
from sqlalchemy import func, select

from api.app import create_app
from db.engine import make_engine
from db.tables import checkouts
from tests.conftest import api_client
from tests.factories import make_location, make_sku
from tests.integration.checkout_helpers import (
    ADDRESS, cart_headers, cart_with, checkout_body, finished_checkout, start_checkout,
)

HOSTILE = ["'; DROP TABLE orders; --", "Robert'); DELETE FROM carts WHERE ('1'='1", "🛒🔥 Ünïcödé ✓",
           "شارع الملك فهد ١٢", "עברית ‏RTL‎ mark", "\\u0000 is not a NUL", "𝕏" * 50]


@pytest.fixture(scope="module")
async def sku(engine):
    return await make_sku(engine, price=1500, stock={await make_location(engine): 100})


async def _pending(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).where(checkouts.c.status == "pending"))).scalar_one()


async def test_backpressure_caps_new_checkouts_but_answers_replays(settings, engine, temporal_env, role_keys, sku):
    """No worker serves this task queue, so every checkout stays pending: the cap is reached for sure."""
    cap = await _pending(engine) + 2
    idle = settings.model_copy(update={"max_inflight_checkouts": cap, "task_queue": f"idle-{uuid.uuid4().hex[:6]}"})
    app = create_app(idle, engine=engine, temporal=temporal_env.client)
    api, ops = api_client(app, role_keys["storefront"]), api_client(app, role_keys["ops"])
    try:
        keys = [str(uuid.uuid4()) for _ in range(3)]
        bodies = [checkout_body(await cart_with(api, {sku: 1})) for _ in keys]
        for key, body in zip(keys[:2], bodies[:2]):
            assert (await start_checkout(api, body, key)).status_code == 202
        refused = await start_checkout(api, bodies[2], keys[2])
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "too_many_checkouts"
        assert int(refused.headers["Retry-After"]) > 0
        replay = await start_checkout(api, bodies[0], keys[0])  # an existing key is always answered
        assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"

        async with engine.begin() as conn:  # one finishes: room for the refused one, under the same key
            await conn.execute(checkouts.update().where(checkouts.c.id == replay.json()["checkout_id"])
                               .values(status="failed", error_code="test"))
        assert (await start_checkout(api, bodies[2], keys[2])).status_code == 202

        metrics = (await ops.get("/metrics")).text
        assert 'orderflow_checkouts_total{outcome="rejected"}' in metrics
        assert 'orderflow_checkouts_total{outcome="replayed"}' in metrics
    finally:
        await api.aclose()
        await ops.aclose()


async def test_no_cap_when_zero(settings, engine, temporal_env, role_keys, sku):
    idle = settings.model_copy(update={"max_inflight_checkouts": 0, "task_queue": f"idle-{uuid.uuid4().hex[:6]}"})
    api = api_client(create_app(idle, engine=engine, temporal=temporal_env.client), role_keys["storefront"])
    try:
        assert (await start_checkout(api, checkout_body(await cart_with(api, {sku: 1})))).status_code == 202
    finally:
        await api.aclose()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe is closed


async def test_health_and_readiness(api_as, settings, temporal_env):
    public = api_as(None)
    assert (await public.get("/healthz")).json() == {"status": "ok"}
    ready = await public.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"postgres": "ok", "temporal": "ok"}

    dead = make_engine(f"postgresql://postgres@127.0.0.1:{_closed_port()}/orderflow", pool_size=1)
    client = api_client(create_app(settings, engine=dead, temporal=temporal_env.client))
    try:
        assert (await client.get("/healthz")).status_code == 200  # liveness does not depend on the database
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["status"] == "not_ready"
        assert not_ready.json()["checks"]["postgres"].startswith("error")
        assert not_ready.json()["checks"]["temporal"] == "ok"
    finally:
        await client.aclose()
        await dead.dispose()


async def test_metrics_are_ops_only_and_labelled_by_route_template(api_as, sku):
    cart_id = await cart_with(api_as("storefront"), {sku: 1})
    assert (await api_as("storefront").get(f"/carts/{cart_id}", headers=cart_headers(cart_id))).status_code == 200
    assert (await api_as(None).get("/metrics")).status_code == 401
    assert (await api_as("support").get("/metrics")).status_code == 403
    scraped = await api_as("ops").get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    assert 'route="/carts/{cart_id}"' in scraped.text and cart_id not in scraped.text
    assert 'orderflow_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/carts/{cart_id}",' \
           'status="200"}' in scraped.text


async def test_oversized_bodies_get_413(api, settings):
    too_big = settings.max_body_bytes + 1
    declared = await api.post("/carts", content=b"{" + b" " * too_big + b"}",
                              headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "payload_too_large"

    async def chunks():  # no Content-Length: counted while it streams in
        for _ in range(too_big // 65536 + 1):
            yield b" " * 65536

    streamed = await api.post("/carts", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "payload_too_large"
    form = await api.post("/admin/catalog/products", content=chunks(), headers={"content-type": "text/plain"})
    assert form.status_code == 413


async def test_catalog_import_may_exceed_the_default_limit(api, settings):
    csv = "handle,title,sku,price_usd\n" + "# " + "x" * (settings.max_body_bytes + 1000) + "\n"
    response = await api.post("/admin/catalog/import?dry_run=true", content=csv.encode(),
                              headers={"content-type": "text/csv"})
    assert response.status_code != 413, response.text
    assert response.status_code < 500


@pytest.mark.parametrize("title", HOSTILE)
async def test_hostile_product_titles_round_trip(api, title):
    handle = f"hostile-{uuid.uuid4().hex[:8]}"
    created = await api.post("/admin/catalog/products", json={"handle": handle, "title": title, "status": "active"})
    assert created.status_code == 201, created.text
    assert (await api.get(f"/products/{created.json()['id']}")).json()["title"] == title


@pytest.mark.parametrize("email", ["o'brien+'--@example.com", "ünïcode@example.com", "🛒@example.com"])
async def test_hostile_cart_emails_round_trip(api, email):
    created = await api.post("/carts", json={"currency": "USD", "email": email})
    assert created.status_code in (201, 422), created.text  # email syntax may refuse it, but never a 500
    if created.status_code == 201:
        assert (await api.get(f"/carts/{created.json()['id']}")).json()["email"] == created.json()["email"]


async def test_hostile_address_round_trips_through_a_checkout(api, temporal_env, sku):
    address = {**ADDRESS, "name": HOSTILE[0], "line1": HOSTILE[3], "line2": HOSTILE[2], "city": HOSTILE[4]}
    started = await start_checkout(api, checkout_body(await cart_with(api, {sku: 1}), shipping_address=address))
    assert started.status_code == 202, started.text
    done = await finished_checkout(api, temporal_env.client, started.json()["checkout_id"])
    assert done["status"] == "completed", done
    order = (await api.get(f"/orders/{done['order_id']}")).json()
    assert {k: order["shipping_address"][k] for k in address} == {**address, "country": "US"}


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/admin/catalog/products", {"handle": "nul-title", "title": "bad\u0000title"}),
    ("POST", "/carts", {"currency": "USD", "email": "nul\u0000@example.com"}),
    ("POST", "/checkouts", {"cart_id": "crt_x", "email": "a@example.com", "payment_method": "pm_card_visa",
                            "shipping_address": {**ADDRESS, "line1": "1 Main\u0000St"}}),
    ("GET", "/carts/crt_%00", None),
    ("GET", "/products?q=%00", None),
])
async def test_nul_characters_are_refused_with_422(api, method, path, body):
    response = await api.request(method, path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


async def test_nul_in_csv_and_form_bodies_is_refused(api):
    csv = await api.post("/admin/catalog/import?dry_run=true", content=b"handle,title,sku\nnul,T\x00x,SKU-NUL\n",
                         headers={"content-type": "text/csv"})
    assert csv.status_code == 422 and csv.json()["error"]["code"] == "csv_invalid_characters"
    form = await api.post("/console/login", content=b"key=ab%00c",
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 422
