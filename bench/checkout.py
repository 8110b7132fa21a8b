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

import timeline  # bench/timeline.py
from cpu import StackMeter, wait_until_idle  # bench/cpu.py

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
        self.cpu: dict[str, float] = {}
        self.runqueue: dict[str, float] = {}
        self.workflow_ids: list[str] = []  # for bench/timeline.py
        self.settled_after: float | None = None  # seconds until the work the phase started was done too

    @property
    def sustained_rate(self) -> float:
        """The rate counting the time until the work the phase started (and did not wait for) was done."""
        return len(self.latencies) / (self.wall + (self.settled_after or 0.0))

    def line(self) -> str:
        return (f"{self.label:<28} {len(self.latencies):>5} in {self.wall:6.2f} s  {self.rate:7.1f} /s   "
                f"p50 {self.p50 * 1000:6.0f} ms  p95 {self.p95 * 1000:6.0f} ms  p99 {self.p99 * 1000:6.0f} ms"
                f"  failed {self.failures}")

    def cpu_line(self) -> str:
        settled = ("" if self.settled_after is None else
                   f"\n  settled {self.settled_after:.1f} s after its last run ended: {self.sustained_rate:.1f} /s sustained")
        return ("  cpu % of a core: " + "  ".join(f"{name} {share:.0f}" for name, share in self.cpu.items())
                + "\n  waiting for a core, %: " + "  ".join(f"{name} {share:.0f}" for name, share in self.runqueue.items())
                + settled)


async def timed_batch(label: str, jobs: list[Callable[[], Awaitable[bool]]], concurrency: int,
                      meter: StackMeter | None = None) -> Stats:
    """Run jobs at most ``concurrency`` at a time; each returns whether it succeeded."""
    gate, latencies, failures = asyncio.Semaphore(concurrency), [], 0

    async def one(job):
        nonlocal failures
        async with gate:
            started = time.perf_counter()
            ok = await job()
            latencies.append(time.perf_counter() - started)
            failures += not ok

    if meter:
        meter.start()
    started = time.perf_counter()
    await asyncio.gather(*(one(job) for job in jobs))
    stats = Stats(label, time.perf_counter() - started, latencies, failures)
    if meter:
        stats.cpu, stats.runqueue = meter.stop(stats.wall)
    return stats


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
    for sku in args.sku:
        if args.database_url:
            await top_up_stock(args.database_url, sku, args.n)
        atp = (await api.get(f"/inventory/{sku}")).raise_for_status().json()["atp"]
        if atp < args.n:
            raise SystemExit(f"{sku} has {atp} available, {args.n} needed: pass --database-url to top it up")


async def make_cart(api: httpx.AsyncClient, sku: str) -> str:
    cart_id = (await api.post("/carts", json={"currency": "USD"})).raise_for_status().json()["id"]
    (await api.post(f"/carts/{cart_id}/lines", json={"sku": sku, "quantity": 1})).raise_for_status()
    return cart_id


def checkout_job(api: httpx.AsyncClient, client: Client, cart_id: str, wait: float = 0,
                 started_ids: list[str] | None = None):
    async def job() -> bool:
        body = {"cart_id": cart_id, "email": "bench@example.com", "shipping_address": ADDRESS,
                "payment_method": "pm_card_visa"}
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        if wait:
            headers["Prefer"] = f"wait={wait:g}"
        started = (await api.post("/checkouts", json=body, headers=headers)).raise_for_status()
        if started_ids is not None:
            started_ids.append(f"checkout-{started.json()['checkout_id']}")
        if started.status_code == 200:  # Prefer: wait answered with the outcome
            return started.json()["status"] == "completed"
        result = await client.get_workflow_handle(f"checkout-{started.json()['checkout_id']}").result()
        return result["status"] == "completed"
    return job


def bare_job(client: Client, task_queue: str, started_ids: list[str] | None = None):
    async def job() -> bool:
        workflow_id = f"bench-{uuid.uuid4()}"
        if started_ids is not None:
            started_ids.append(workflow_id)
        steps = await client.execute_workflow(BareWorkflow.run, CHECKOUT_ACTIVITIES, id=workflow_id,
                                              task_queue=task_queue)
        return steps == CHECKOUT_ACTIVITIES
    return job


async def checkout_phase(api: httpx.AsyncClient, client: Client, args, concurrency: int,
                         meter: StackMeter) -> Stats:
    await ensure_stock(api, args)
    gate = asyncio.Semaphore(concurrency)

    async def gated_cart(sku: str):
        async with gate:
            return await make_cart(api, sku)

    # With several --sku, carts take them in turn, as a store's orders spread over its catalog.
    carts = await asyncio.gather(*(gated_cart(args.sku[i % len(args.sku)]) for i in range(args.n)))
    started_ids: list[str] = []
    stats = await timed_batch("checkout (HTTP + workflow)",
                              [checkout_job(api, client, c, args.wait, started_ids) for c in carts], concurrency, meter)
    stats.workflow_ids = started_ids
    return stats


async def bare_phase(client: Client, args, concurrency: int, meter: StackMeter) -> Stats:
    task_queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
    started_ids: list[str] = []
    async with Worker(client, task_queue=task_queue, workflows=[BareWorkflow], activities=[noop]):
        stats = await timed_batch(f"bare workflow, {CHECKOUT_ACTIVITIES} no-op acts",
                                  [bare_job(client, task_queue, started_ids) for _ in range(args.n)], concurrency, meter)
    stats.workflow_ids = started_ids
    return stats


async def report_timelines(client: Client, checkout: Stats, bare: Stats) -> None:
    """Where each phase's workflows spent their time (read after both phases, so as not to load them)."""
    for label, stats in (("checkout", checkout), ("bare", bare)):
        print(timeline.line(label, await timeline.breakdown(client, stats.workflow_ids)), flush=True)


def report(concurrency: int, checkout: Stats, bare: Stats) -> None:
    print(f"-- concurrency {concurrency}, N={len(checkout.latencies)}")
    for stats in (checkout, bare):
        print(stats.line())
        print(stats.cpu_line())
    print(f"{'ratio checkout / bare':<28} throughput {checkout.rate / bare.rate:.2f}x   "
          f"p50 {checkout.p50 / bare.p50:.2f}x  p95 {checkout.p95 / bare.p95:.2f}x  p99 {checkout.p99 / bare.p99:.2f}x"
          f"   sustained {checkout.sustained_rate / bare.sustained_rate:.2f}x", flush=True)


async def main(args) -> int:
    from config import get_settings

    client = await Client.connect(args.temporal, namespace=args.namespace, data_converter=pydantic_data_converter)
    state_dir = get_settings().state_dir
    meter = StackMeter(state_dir)
    print(f"N={args.n} concurrency={args.concurrency} cpus={os.cpu_count()} api={args.api} temporal={args.temporal}"
          f" wait={args.wait}", flush=True)
    failed = False
    limits = httpx.Limits(max_connections=max(args.concurrency) * 2)
    async with httpx.AsyncClient(base_url=args.api, timeout=60, limits=limits,
                                 headers={"Authorization": f"Bearer {args.api_key}"}) as api:
        (await api.get("/readyz")).raise_for_status()
        # Each level runs checkouts then the floor, back to back, so both see the same machine load.
        for concurrency in args.concurrency:
            # Each phase starts on a quiet stack and is followed until the work it started is done: a checkout's
            # order routes, mails and starts its parcels after the checkout answered (at lower priority), and
            # that work must neither fall on the floor's phase nor go uncounted ("sustained").
            await wait_until_idle(state_dir)
            checkout = await checkout_phase(api, client, args, concurrency, meter)
            checkout.settled_after = await wait_until_idle(state_dir)
            bare = await bare_phase(client, args, concurrency, meter)
            bare.settled_after = await wait_until_idle(state_dir)
            report(concurrency, checkout, bare)
            if args.timeline:
                await report_timelines(client, checkout, bare)
            failed = failed or bool(checkout.failures or bare.failures)
    return 1 if failed else 0


def parse_args(argv=None):
    from config import get_settings
    from devstack import running_api_key, running_database_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="orderflow API base URL")
    parser.add_argument("--api-key", default=os.environ.get("ORDERFLOW_API_KEY") or running_api_key(get_settings()),
                        help="a storefront (or higher) key (default: ORDERFLOW_API_KEY, else the dev stack's)")
    parser.add_argument("--temporal", default="127.0.0.1:7233", help="Temporal frontend address")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("-n", type=int, default=200, help="checkouts (and bare workflows) to run at each level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 50],
                        help="one or more levels, each run as checkouts then the floor (e.g. 1 10 50)")
    parser.add_argument("--wait", type=float, default=0,
                        help="send `Prefer: wait=N` and take a 200 answer as the outcome (0: read the workflow result)")
    parser.add_argument("--sku", nargs="+", default=["TEE-BLK-M"],
                        help="one or more SKUs; carts take them in turn (one: every checkout reserves the same stock row)")
    parser.add_argument("--timeline", action="store_true",
                        help="after each level, where the workflows spent their time (bench/timeline.py, from histories)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or running_database_url(get_settings()),
                        help="top the SKU's stock up by N first (default: DATABASE_URL, else the running dev stack's)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    from cli import exit_now  # skips finalization, which temporalio's threads can abort

    exit_now(asyncio.run(main(parse_args())))
