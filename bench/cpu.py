"""Where the CPU goes during a bench phase: the dev stack's processes (from ``devstack.json``) and this one.

PostgreSQL counts its backends too (children of the postmaster). Figures are % of one core, averaged
over the phase, so on 2 cores the ceiling is 200 %.
"""

import json
import os
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
