"""A realistic storefront mix at a set arrival rate against a running ``orderflow dev``, beside the bare floor.

Shoppers arrive at ``--rate`` per second for ``--duration`` seconds (open loop: arrivals do not wait
for earlier shoppers). Each browses the catalog, builds a cart (add, change quantity, read), and a
``--checkout-share`` of them check out, poll the checkout's status and read the order. Then, in the
same run, bare workflows of the same number of no-op activities arrive at the checkout rate on a
private task queue (bench/checkout.py's ``BareWorkflow``): the floor that Temporal imposes here.

    .venv/bin/python bench/load.py --rate 4 --duration 60
"""

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid
from collections import Counter, defaultdict

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from checkout import ADDRESS, CHECKOUT_ACTIVITIES, BareWorkflow, noop, top_up_stock  # bench/checkout.py

MAX_SESSIONS = 20_000  # whatever the arguments say, a run stays bounded
DRAIN_SECONDS = 120  # after the last arrival, how long in-flight shoppers may take
POLL_INTERVAL = 0.25


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter = Counter()
        self.outcomes: Counter = Counter()

    async def call(self, kind: str, api: httpx.AsyncClient, method: str, url: str, **kwargs) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await api.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            self.errors[f"{kind}: {type(error).__name__}"] += 1
            return None
        self.latencies[kind].append(time.perf_counter() - started)
        if response.status_code >= 400:
            try:
                code = response.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "?"
            self.errors[f"{response.status_code} {code}"] += 1
            return None
        return response


async def shopper(api: httpx.AsyncClient, rec: Recorder, products: list[str], args, rng: random.Random) -> None:
    if products:  # browse: a page of the catalog, then one product
        await rec.call("browse", api, "GET", "/products", params={"limit": 20})
        await rec.call("browse", api, "GET", f"/products/{rng.choice(products)}")
    created = await rec.call("cart op", api, "POST", "/carts", json={"currency": "USD"})
    if created is None:
        return
    cart_id = created.json()["id"]
    added = await rec.call("cart op", api, "POST", f"/carts/{cart_id}/lines", json={"sku": args.sku, "quantity": 2})
    if added is None:
        return
    line_id = added.json()["lines"][0]["id"]
    await rec.call("cart op", api, "PATCH", f"/carts/{cart_id}/lines/{line_id}", json={"quantity": 1})
    await rec.call("cart op", api, "GET", f"/carts/{cart_id}")
    if rng.random() >= args.checkout_share:
        rec.outcomes["abandoned cart"] += 1
        return
    body = {"cart_id": cart_id, "email": "load@example.com", "shipping_address": ADDRESS,
            "payment_method": "pm_card_visa"}
    started = time.perf_counter()
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    if args.wait:  # one long wait for the outcome instead of polling (a 202 still falls back to polling)
        headers["Prefer"] = f"wait={args.wait:g}"
    accepted = await rec.call("checkout start", api, "POST", "/checkouts", json=body, headers=headers)
    if accepted is None:
        rec.outcomes["checkout refused"] += 1
        return
    checkout_id, status = accepted.json()["checkout_id"], accepted.json()
    deadline = started + DRAIN_SECONDS
    while status["status"] == "pending" and time.perf_counter() < deadline:
        await asyncio.sleep(POLL_INTERVAL)
        polled = await rec.call("status poll", api, "GET", f"/checkouts/{checkout_id}")
        status = polled.json() if polled is not None else status
    if status["status"] != "completed":
        rec.outcomes[f"checkout {status['status']}" + (f" ({status['error']['code']})" if status.get("error") else "")
                     ] += 1
        return
    rec.latencies["checkout → order"].append(time.perf_counter() - started)
    rec.outcomes["checkout completed"] += 1
    await rec.call("order read", api, "GET", f"/orders/{status['order_id']}")


async def arrivals(rate: float, duration: float, start) -> tuple[float, list[asyncio.Task]]:
    """Start ``start()`` at ``rate`` per second for ``duration`` seconds, on schedule (open loop)."""
    count = min(int(rate * duration), MAX_SESSIONS)
    began, tasks = time.perf_counter(), []
    for index in range(count):
        delay = began + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(start()))
    await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
    for task in tasks:
        task.cancel()  # still running after the drain: counted as unfinished by the caller
    return time.perf_counter() - began, tasks


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return (values * 3 or [float("nan")] * 3)[:3]
    cuts = statistics.quantiles(sorted(values), n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def row(label: str, values: list[float], wall: float) -> str:
    p50, p95, p99 = percentiles(values)
    return (f"{label:<26} {len(values):>6} {len(values) / wall:>8.2f}/s  p50 {p50 * 1000:7.0f} ms  "
            f"p95 {p95 * 1000:7.0f} ms  p99 {p99 * 1000:7.0f} ms")


async def bare_floor(client: Client, rate: float, duration: float) -> tuple[list[float], float, int]:
    task_queue, latencies, failures = f"bench-bare-{uuid.uuid4().hex[:8]}", [], 0

    async def one() -> None:
        nonlocal failures
        started = time.perf_counter()
        try:
            await client.execute_workflow(BareWorkflow.run, CHECKOUT_ACTIVITIES, id=f"bench-{uuid.uuid4()}",
                                          task_queue=task_queue)
            latencies.append(time.perf_counter() - started)
        except Exception:  # a bare workflow failing is a finding, not a crash of the bench
            failures += 1

    async with Worker(client, task_queue=task_queue, workflows=[BareWorkflow], activities=[noop]):
        wall, _ = await arrivals(rate, duration, one)
    return latencies, wall, failures


async def main(args) -> int:
    rng = random.Random(args.seed)
    limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=args.connections)
    async with httpx.AsyncClient(base_url=args.api, timeout=30, limits=limits,
                                 headers={"Authorization": f"Bearer {args.api_key}"}) as api:
        (await api.get("/readyz")).raise_for_status()
        sessions = min(int(args.rate * args.duration), MAX_SESSIONS)
        if args.database_url:  # each checkout buys one unit
            await top_up_stock(args.database_url, args.sku, sessions)
        products = [p["id"] for p in (await api.get("/products", params={"limit": 50})).json().get("items", [])]
        rec = Recorder()
        wall, tasks = await arrivals(args.rate, args.duration, lambda: shopper(api, rec, products, args, rng))
        unfinished = sum(1 for task in tasks if task.cancelled() or not task.done())
        crashed = [task.exception() for task in tasks if task.done() and not task.cancelled() and task.exception()]
    client = await Client.connect(args.temporal, namespace=args.namespace, data_converter=pydantic_data_converter)
    checkout_rate = args.rate * args.checkout_share
    bare, bare_wall, bare_failures = await bare_floor(client, checkout_rate, args.duration) if args.bare else ([], 1, 0)

    requests = sum(len(v) for v in rec.latencies.values() if v) + sum(rec.errors.values())
    print(f"load: {args.rate:g} shoppers/s for {args.duration:g} s ({sessions} shoppers, checkout share "
          f"{args.checkout_share:g}), cpus={os.cpu_count()}, api={args.api}")
    print(f"wall {wall:.1f} s, {requests} requests ({requests / wall:.1f}/s), "
          f"{rec.outcomes['checkout completed'] / wall:.2f} completed checkouts/s")
    print(f"{'':<26} {'n':>6} {'rate':>10}")
    for kind in ("browse", "cart op", "checkout start", "status poll", "checkout → order", "order read"):
        print(row(kind, rec.latencies[kind], wall))
    if args.bare:
        print(row(f"bare workflow, {CHECKOUT_ACTIVITIES} no-ops", bare, bare_wall) + f"  failed {bare_failures}")
        mine, floor = percentiles(rec.latencies["checkout → order"]), percentiles(bare)
        print(f"{'ratio checkout→order/bare':<26} p50 {mine[0] / floor[0]:.2f}x  p95 {mine[1] / floor[1]:.2f}x  "
              f"p99 {mine[2] / floor[2]:.2f}x")
    print("outcomes:", dict(rec.outcomes) or "-")
    print("errors by code:", dict(rec.errors.most_common()) or "none")
    if unfinished or crashed:
        print(f"unfinished shoppers: {unfinished}; crashed: {len(crashed)} {crashed[:3]}")
    failed = sum(n for outcome, n in rec.outcomes.items() if outcome.startswith("checkout ") and
                 outcome not in ("checkout completed", "checkout refused"))
    return 1 if failed or crashed or bare_failures else 0


def parse_args(argv=None):
    from config import get_settings
    from devstack import running_api_key, running_database_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="orderflow API base URL (loopback only)")
    parser.add_argument("--api-key", default=os.environ.get("ORDERFLOW_API_KEY") or running_api_key(get_settings()))
    parser.add_argument("--temporal", default="127.0.0.1:7233")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--rate", type=float, default=4.0, help="shoppers arriving per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of arrivals (at most 600)")
    parser.add_argument("--checkout-share", type=float, default=0.5, help="share of shoppers who check out")
    parser.add_argument("--connections", type=int, default=50, help="HTTP connection pool size")
    parser.add_argument("--sku", default="TEE-BLK-M")
    parser.add_argument("--wait", type=float, default=0,
                        help="send `Prefer: wait=N` with POST /checkouts instead of polling from the start (0: poll)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-bare", dest="bare", action="store_false", help="skip the bare-Temporal floor")
    parser.add_argument("--database-url",
                        default=os.environ.get("DATABASE_URL") or running_database_url(get_settings()),
                        help="top the SKU's stock up first (default: DATABASE_URL, else the running dev stack's)")
    args = parser.parse_args(argv)
    if not (0 < args.rate <= 200 and 0 < args.duration <= 600 and 0 <= args.checkout_share <= 1):
        parser.error("keep it bounded: 0 < --rate <= 200, 0 < --duration <= 600, 0 <= --checkout-share <= 1")
    if httpx.URL(args.api).host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("load tests run against this machine only (--api on 127.0.0.1 or localhost)")
    return args


if __name__ == "__main__":
    from cli import exit_now  # skips finalization, which temporalio's threads can abort

    exit_now(asyncio.run(main(parse_args())))
