"""A worker killed with SIGKILL in the middle of slow payments: a new worker finishes every checkout once.

Real ``orderflow worker`` processes (this module's database and task queue, the session's Temporal
server) with a slow local payment provider; checkouts come in through the API. No in-process worker
serves this task queue.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from api.app import create_app
from db.tables import checkouts, orders, payment_operations, reservations, stock
from tests.conftest import api_client
from tests.factories import make_api_key, make_location, make_sku
from tests.helpers import eventually
from tests.integration.checkout_helpers import cart_with, checkout_body, start_checkout

REPO = Path(__file__).resolve().parents[2]
CHECKOUTS = 5
PAYMENT_DELAY_MS = 3000  # long enough to kill the worker while every checkout is inside it


def _free_port_pair() -> int:
    """A port P with P + 1 free too (``--processes 2`` binds both)."""
    for _ in range(50):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no pair of free ports")


class WorkerProcess:
    """``orderflow worker`` as a subprocess; its log goes to a file for failure messages."""

    def __init__(self, env: dict[str, str], log: Path, *args: str):
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "cli", "worker", *args], cwd=REPO, env=env,
                                         stdout=out, stderr=out, start_new_session=True)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self, sig=signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill_all(self) -> None:
        """Whatever is left of its process group (``--processes`` children too)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


@pytest.fixture(scope="module")
def worker_env(database_url, temporal_env, task_queue, tmp_path_factory) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "TASK_QUEUE": task_queue,
            "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
            "STATE_DIR": str(tmp_path_factory.mktemp("worker-state")), "ENVIRONMENT": "test",
            "PAYMENT_BACKEND": "local", "TAX_BACKEND": "local", "SHIPPING_BACKEND": "local", "LOG_LEVEL": "INFO"}


@pytest.fixture(scope="module")
async def storefront(settings, engine, temporal_env):
    """The API without any in-process worker: only the subprocess workers run these checkouts."""
    client = api_client(create_app(settings, engine=engine, temporal=temporal_env.client),
                        await make_api_key(engine, "storefront"))
    yield client
    await client.aclose()


async def _scalar(engine, query) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(query)).scalar_one()


def _scraped(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


def _completed(metrics: str, task_queue: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("orderflow_checkouts_total{") and 'outcome="completed"' in line
               and f'task_queue="{task_queue}"' in line)


async def test_kill_9_mid_payment_then_a_new_worker_completes_each_checkout_once(
        storefront, engine, temporal_env, worker_env, task_queue, tmp_path):
    sku = await make_sku(engine, price=2500, stock={await make_location(engine): 50})
    first = WorkerProcess({**worker_env, "LOCAL_PAYMENT_DELAY_MS": str(PAYMENT_DELAY_MS),
                           "WORKER_METRICS_PORT": "0"}, tmp_path / "worker-1.log")
    try:
        carts = [await cart_with(storefront, {sku: 1}) for _ in range(CHECKOUTS)]
        started = [await start_checkout(storefront, checkout_body(cart)) for cart in carts]
        assert all(r.status_code == 202 for r in started), [r.text for r in started]
        ids = [r.json()["checkout_id"] for r in started]

        in_payment = (select(func.count()).select_from(payment_operations)
                      .where(payment_operations.c.payment_ref.in_(ids), payment_operations.c.kind == "authorize",
                             payment_operations.c.status == "pending"))

        async def all_in_payment():
            assert first.proc.poll() is None, first.tail()
            return await _scalar(engine, in_payment) == CHECKOUTS

        await eventually(all_in_payment, 60, interval=0.1, what="every checkout to be inside the slow payment call")
        first.proc.kill()  # SIGKILL: no graceful shutdown, activities die mid-call
        assert first.proc.wait(10) == -signal.SIGKILL
    finally:
        first.kill_all()

    metrics_port = _free_port_pair()
    second = WorkerProcess({**worker_env, "LOCAL_PAYMENT_DELAY_MS": "200", "WORKER_METRICS_PORT": str(metrics_port)},
                           tmp_path / "worker-2.log", "--processes", "2")
    try:
        # Recovery waits for the payment activity's heartbeat timeout (10 s), not its 60 s start-to-close.
        results = await asyncio.wait_for(asyncio.gather(*(
            temporal_env.client.get_workflow_handle(f"checkout-{checkout_id}").result() for checkout_id in ids)), 90)
        assert [r["status"] for r in results] == ["completed"] * CHECKOUTS, results

        async with engine.connect() as conn:
            statuses = dict((await conn.execute(select(checkouts.c.id, checkouts.c.status)
                                                .where(checkouts.c.id.in_(ids)))).all())
            per_checkout = dict((await conn.execute(
                select(orders.c.checkout_id, func.count()).where(orders.c.checkout_id.in_(ids))
                .group_by(orders.c.checkout_id))).all())
            authorized = dict((await conn.execute(
                select(payment_operations.c.payment_ref, func.count())
                .where(payment_operations.c.payment_ref.in_(ids), payment_operations.c.kind == "authorize",
                       payment_operations.c.status == "succeeded")
                .group_by(payment_operations.c.payment_ref))).all())
            open_operations = (await conn.execute(select(func.count()).select_from(payment_operations).where(
                payment_operations.c.payment_ref.in_(ids), payment_operations.c.status == "pending"))).scalar_one()
            reserved = (await conn.execute(select(func.sum(stock.c.reserved)).where(stock.c.sku == sku))).scalar_one()
            holds = dict((await conn.execute(
                select(reservations.c.status, func.sum(reservations.c.quantity)).where(reservations.c.sku == sku)
                .group_by(reservations.c.status))).all())
            ours = select(orders.c.id).where(orders.c.checkout_id.in_(ids))
            order_holds = (await conn.execute(  # units held for our orders (routing may re-hold them)
                select(func.sum(reservations.c.quantity)).where(
                    reservations.c.sku == sku, reservations.c.status.in_(("committed", "allocated")),
                    reservations.c.order_id.in_(ours)))).scalar_one()
        assert statuses == dict.fromkeys(ids, "completed")
        assert per_checkout == dict.fromkeys(ids, 1)  # one order per checkout
        assert authorized == dict.fromkeys(ids, 1)  # one succeeded authorization per checkout
        assert open_operations == 0
        assert "active" not in holds, holds  # no checkout hold left behind
        assert reserved == sum(holds.get(s, 0) for s in ("committed", "allocated")) == CHECKOUTS
        assert order_holds == CHECKOUTS

        # The new worker processes export the outcome counter with the Temporal SDK metrics.
        scraped = [_scraped(metrics_port), _scraped(metrics_port + 1)]
        assert all(f'task_queue="{task_queue}"' in text for text in scraped), scraped  # ours, both of them
        assert sum(_completed(text, task_queue) for text in scraped) == CHECKOUTS

        assert second.stop(signal.SIGTERM) == 0, second.tail()  # both processes stop cleanly
    finally:
        second.kill_all()


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _is_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False


async def test_processes_one_dying_stops_the_rest_with_a_failure(worker_env, tmp_path):
    """``--processes 2``: a worker process that dies takes the group down (exit 1), so a supervisor notices."""
    group = WorkerProcess({**worker_env, "WORKER_METRICS_PORT": "0"}, tmp_path / "workers.log", "--processes", "2")
    try:
        async def two_workers():
            assert group.proc.poll() is None, group.tail()
            return len(workers := [pid for pid in _children(group.proc.pid) if _is_worker(pid)]) == 2 and workers

        workers = await eventually(two_workers, 30, interval=0.1, what="two worker processes")
        os.kill(workers[0], signal.SIGKILL)
        assert group.proc.wait(40) == 1, group.tail()
        assert not any(_is_worker(pid) for pid in workers)  # the survivor was stopped too
    finally:
        group.kill_all()
