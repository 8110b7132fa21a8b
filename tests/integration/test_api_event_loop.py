"""The storefront's calls run on the API's event loop alone: FastAPI runs a plain ``def`` dependency or
endpoint in its thread pool, a hand-off to a thread and back per call per request, paid on every cart
operation and order read (issue 13's load target: p99 < 50 ms)."""

import fastapi.dependencies.utils
import fastapi.routing
import pytest

from tests.factories import make_location, make_sku


@pytest.fixture
def thread_pool_calls(monkeypatch):
    calls: list[str] = []

    def counting(real):
        async def run_in_threadpool(func, *args, **kwargs):
            calls.append(getattr(kwargs.get("function", func), "__qualname__", repr(func)))
            return await real(func, *args, **kwargs)
        return run_in_threadpool

    for module in (fastapi.dependencies.utils, fastapi.routing):
        monkeypatch.setattr(module, "run_in_threadpool", counting(module.run_in_threadpool))
    return calls


async def test_cart_calls_and_order_reads_never_wait_for_a_thread(api, engine, thread_pool_calls):
    sku = await make_sku(engine, stock={await make_location(engine): 5})
    created = await api.post("/carts", json={"currency": "USD"})
    assert created.status_code == 201, created.text
    cart_id = created.json()["id"]
    added = await api.post(f"/carts/{cart_id}/lines", json={"sku": sku, "quantity": 2})
    assert added.status_code == 201, added.text
    line_id = added.json()["lines"][0]["id"]
    assert (await api.patch(f"/carts/{cart_id}/lines/{line_id}", json={"quantity": 1})).status_code == 200
    assert (await api.get(f"/carts/{cart_id}")).status_code == 200
    assert (await api.get("/products")).status_code == 200
    assert (await api.get("/orders/ord_unknown")).status_code == 404

    assert thread_pool_calls == []
