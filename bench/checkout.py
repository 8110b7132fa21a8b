"""Checkout throughput and latency against a running ``orderflow dev``, beside a bare workflow.

Phase 1: N checkouts through the HTTP API (carts prepared first, untimed); each is timed
from POST /checkouts until its workflow result arrives. Phase 2: N bare workflows of the same
number of no-op activities on a private task queue served by an in-process worker — the
floor the Temporal server and SDK alone impose on this machine.

    .venv/bin/python bench/checkout.py -n 100 --concurrency 10
"""

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    import httpx

CHECKOUT_ACTIVITIES = 8  # happy path: begin, price, ship, tax, fraud screen, reserve, authorize, create order
ADDRESS = {"name": "Bench Mark", "line1": "1 Main St", "city": "San Francisco", "region": "CA",
           "postal_code": "94105", "country": "US"}


@activity.defn
async def noop(step: int) -> int:
    return step


@workflow.defn
class BareWorkflow:
    @workflow.run
    async def run(self, steps: int) -> int:
        for step in range(steps):
            await workflow.execute_activity(noop, step, start_to_close_timeout=timedelta(seconds=30))
        return steps


class Stats:
    def __init__(self, label: str, wall: float, latencies: list[float], failures: int) -> None:
        self.label, self.wall, self.latencies, self.failures = label, wall, sorted(latencies), failures
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
        self.p50, self.p95, self.p99 = cuts[49], cuts[94], cuts[98]
        self.rate = len(latencies) / wall

    def line(self) -> str:
        return (f"{self.label:<28} {len(self.latencies):>5} in {self.wall:6.2f} s  {self.rate:7.1f} /s   "
                f"p50 {self.p50 * 1000:6.0f} ms  p95 {self.p95 * 1000:6.0f} ms  p99 {self.p99 * 1000:6.0f} ms"
                f"  failed {self.failures}")


async def timed_batch(label: str, jobs: list[Callable[[], Awaitable[bool]]], concurrency: int) -> Stats:
    """Run jobs at most ``concurrency`` at a time; each returns whether it succeeded."""
    gate, latencies, failures = asyncio.Semaphore(concurrency), [], 0

    async def one(job):
        nonlocal failures
        async with gate:
            started = time.perf_counter()
            ok = await job()
            latencies.append(time.perf_counter() - started)
            failures += not ok

    started = time.perf_counter()
    await asyncio.gather(*(one(job) for job in jobs))
    return Stats(label, time.perf_counter() - started, latencies, failures)


async def top_up_stock(database_url: str, sku: str, units: int) -> None:
    from sqlalchemy import select

    from db import inventory
    from db.engine import make_engine
    from db.tables import stock

    engine = make_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            row = (await conn.execute(select(stock).where(stock.c.sku == sku).order_by(stock.c.location_id))).first()
            if row is None:
                raise SystemExit(f"no stock rows for {sku}: is the demo catalog seeded?")
            await inventory.set_stock(conn, sku, row.location_id, on_hand=row.on_hand + units, reason="count",
                                      reference="bench")
    finally:
        await engine.dispose()


async def ensure_stock(api: httpx.AsyncClient, args) -> None:
    if args.database_url:
        await top_up_stock(args.database_url, args.sku, args.n)
    atp = (await api.get(f"/inventory/{args.sku}")).raise_for_status().json()["atp"]
    if atp < args.n:
        raise SystemExit(f"{args.sku} has {atp} available, {args.n} needed: pass --database-url to top it up")


async def make_cart(api: httpx.AsyncClient, sku: str) -> str:
    cart_id = (await api.post("/carts", json={"currency": "USD"})).raise_for_status().json()["id"]
    (await api.post(f"/carts/{cart_id}/lines", json={"sku": sku, "quantity": 1})).raise_for_status()
    return cart_id


def checkout_job(api: httpx.AsyncClient, client: Client, cart_id: str):
    async def job() -> bool:
        body = {"cart_id": cart_id, "email": "bench@example.com", "shipping_address": ADDRESS,
                "payment_method": "pm_card_visa"}
        started = await api.post("/checkouts", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        started.raise_for_status()
        result = await client.get_workflow_handle(f"checkout-{started.json()['checkout_id']}").result()
        return result["status"] == "completed"
    return job


def bare_job(client: Client, task_queue: str):
    async def job() -> bool:
        steps = await client.execute_workflow(BareWorkflow.run, CHECKOUT_ACTIVITIES, id=f"bench-{uuid.uuid4()}",
                                              task_queue=task_queue)
        return steps == CHECKOUT_ACTIVITIES
    return job


async def main(args) -> int:
    client = await Client.connect(args.temporal, namespace=args.namespace, data_converter=pydantic_data_converter)
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with httpx.AsyncClient(base_url=args.api, timeout=60, limits=limits,
                                 headers={"Authorization": f"Bearer {args.api_key}"}) as api:
        (await api.get("/readyz")).raise_for_status()
        await ensure_stock(api, args)
        gate = asyncio.Semaphore(args.concurrency)

        async def gated_cart():
            async with gate:
                return await make_cart(api, args.sku)

        carts = await asyncio.gather(*(gated_cart() for _ in range(args.n)))
        checkout = await timed_batch("checkout (HTTP + workflow)", [checkout_job(api, client, c) for c in carts],
                                     args.concurrency)
    task_queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=[BareWorkflow], activities=[noop]):
        bare = await timed_batch(f"bare workflow, {CHECKOUT_ACTIVITIES} no-op acts",
                                 [bare_job(client, task_queue) for _ in range(args.n)], args.concurrency)
    print(f"N={args.n} concurrency={args.concurrency} cpus={os.cpu_count()} api={args.api} temporal={args.temporal}")
    print(checkout.line())
    print(bare.line())
    print(f"{'ratio checkout / bare':<28} throughput {checkout.rate / bare.rate:.2f}x   "
          f"p50 {checkout.p50 / bare.p50:.2f}x  p95 {checkout.p95 / bare.p95:.2f}x  p99 {checkout.p99 / bare.p99:.2f}x")
    return 1 if checkout.failures or bare.failures else 0


def parse_args(argv=None):
    from config import get_settings
    from devstack import running_api_key, running_database_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="orderflow API base URL")
    parser.add_argument("--api-key", default=os.environ.get("ORDERFLOW_API_KEY") or running_api_key(get_settings()),
                        help="a storefront (or higher) key (default: ORDERFLOW_API_KEY, else the dev stack's)")
    parser.add_argument("--temporal", default="127.0.0.1:7233", help="Temporal frontend address")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("-n", type=int, default=100, help="checkouts (and bare workflows) to run")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--sku", default="TEE-BLK-M")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or running_database_url(get_settings()),
                        help="top the SKU's stock up by N first (default: DATABASE_URL, else the running dev stack's)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    from cli import exit_now  # skips finalization, which temporalio's threads can abort

    exit_now(asyncio.run(main(parse_args())))
