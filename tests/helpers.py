"""Waiting in tests: one helper for every condition another task or process makes true.

Await what can be awaited (a workflow's result, ``env.sleep`` on the time-skipping server); poll with
``eventually`` only what cannot (visibility listings, rows the worker writes, another process's API).
The timeout is a hang guard, generous for a loaded 2-core machine, never a statement about speed.
"""

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], T | Awaitable[T]], timeout: float = 60.0, *, interval: float = 0.05,
                     what: str | None = None) -> T:
    """``probe()`` (plain or async) once it is truthy; an AssertionError naming ``what`` after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while True:
        value: Any = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > give_up:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or _name(probe)}")
        await asyncio.sleep(interval)


def eventually_blocking(probe: Callable[[], T], timeout: float = 60.0, *, interval: float = 0.05,
                        what: str | None = None) -> T:
    """``eventually`` for synchronous tests and fixtures (other processes: a dev stack, localstripe), run on
    a private event loop so the test session's loops are left alone; ``probe`` is a plain call."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(eventually(probe, timeout, interval=interval, what=what))
    finally:
        loop.close()


def _name(probe: Callable) -> str:
    name = getattr(probe, "__name__", "")
    return "the condition" if name in ("", "<lambda>") else name


async def a_session_waits_on_a_lock(engine) -> bool:
    """Whether a session of ``engine``'s database is blocked on a lock (a row lock, a unique index being written):
    the point at which a test holding that lock knows the other side has reached it."""
    from sqlalchemy import text

    async with engine.connect() as conn:
        return bool(await conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")))
