"""Where the CPU goes during a bench phase: the dev stack's processes (from ``devstack.json``) and this one.

PostgreSQL counts its backends too (children of the postmaster). Figures are % of one core, averaged
over the phase, so on 2 cores the ceiling is 200 %. Beside it, ``RunqueueMeter`` reads how long each process's
threads were ready to run but waited for a core (Linux ``/proc/<pid>/task/*/schedstat``): on a machine shared
with other work, that is the time the stack lost to it.
"""

import asyncio
import json
import os
import time
from pathlib import Path

import psutil


def stack_processes(state_dir: Path) -> dict[str, psutil.Process]:
    """The running stack's processes by name (Temporal, worker, API, PostgreSQL), plus the bench itself."""
    try:
        pids = json.loads((state_dir / "devstack.json").read_text())["pids"]
    except (OSError, ValueError, KeyError):
        pids = {}
    found = {"bench": psutil.Process(os.getpid())}
    for name, pid in pids.items():
        if name != "devstack" and psutil.pid_exists(pid):
            found[name] = psutil.Process(pid)
    return found


def _cpu_seconds(process: psutil.Process, with_children: bool) -> float:
    try:
        processes = [process, *process.children(recursive=True)] if with_children else [process]
        return sum(sum(p.cpu_times()[:2]) for p in processes if p.is_running())
    except psutil.Error:
        return 0.0


def _runqueue_by_thread(process: psutil.Process, with_children: bool) -> dict[str, float]:
    """Seconds each thread of ``process`` (and its children) spent runnable but waiting for a core."""
    try:
        processes = [process, *process.children(recursive=True)] if with_children else [process]
    except psutil.Error:
        return {}
    waited = {}
    for each in processes:
        for stat in Path(f"/proc/{each.pid}/task").glob("*/schedstat"):
            try:
                waited[stat.parent.name] = int(stat.read_text().split()[1]) / 1e9
            except (OSError, IndexError, ValueError):
                continue  # the thread ended meanwhile
    return waited


class CpuMeter:
    """CPU seconds each stack process used between ``start()`` and ``stop()``."""

    def __init__(self, state_dir: Path) -> None:
        self.processes = stack_processes(state_dir)
        self.before: dict[str, float] = {}
        self.share: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        # PostgreSQL does its work in backends (children); the others' children are not part of the stack.
        return {name: _cpu_seconds(p, with_children=name == "postgres") for name, p in self.processes.items()}

    def start(self) -> None:
        self.before = self._now()

    def stop(self, wall: float) -> dict[str, float]:
        after = self._now()
        self.share = {name: 100 * (after[name] - self.before[name]) / wall for name in after}
        return self.share


class RunqueueMeter(CpuMeter):
    """Like CpuMeter, but the time spent waiting for a core (100: one thread's worth waited all phase).
    Counted per thread, so that threads ending during the phase take nothing away."""

    def _now(self) -> dict[str, dict[str, float]]:
        return {name: _runqueue_by_thread(p, with_children=name == "postgres") for name, p in self.processes.items()}

    def stop(self, wall: float) -> dict[str, float]:
        after = self._now()
        self.share = {name: 100 * sum(waited - self.before[name].get(thread, 0.0)
                                      for thread, waited in threads.items()) / wall
                      for name, threads in after.items()}
        return self.share


class StackMeter:
    """Both, over the same phase: ``stop`` returns (cpu %, waiting-for-a-core %) per process."""

    def __init__(self, state_dir: Path) -> None:
        self.cpu, self.runqueue = CpuMeter(state_dir), RunqueueMeter(state_dir)

    def start(self) -> None:
        self.cpu.start()
        self.runqueue.start()

    def stop(self, wall: float) -> tuple[dict[str, float], dict[str, float]]:
        return self.cpu.stop(wall), self.runqueue.stop(wall)


async def wait_until_idle(state_dir: Path, *, below: float = 15.0, window: float = 0.5, limit: float = 120.0) -> float:
    """Seconds until the stack's processes (not this one) together use less than ``below`` % of a core over a
    ``window``: the work a phase started and did not wait for (an order's routing, its email, its parcels' first
    steps) has been done. Counted from the call; ``limit`` if it never quiets down."""
    meter = CpuMeter(state_dir)
    meter.processes.pop("bench", None)
    started = time.perf_counter()
    while (waited := time.perf_counter() - started) < limit:
        meter.start()
        await asyncio.sleep(window)
        if sum(meter.stop(window).values()) < below:
            return waited
    return limit
