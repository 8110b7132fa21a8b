"""What PostgreSQL's backends wait on while a bench runs: samples ``pg_stat_activity`` of the stack's database.

Run it beside ``make bench`` (same database URL as the bench's ``--database-url``):

    .venv/bin/python bench/waits.py --seconds 60

Every ``--every`` seconds it counts the orderflow database's client backends by state and wait event
(``Lock/transactionid`` or ``Lock/tuple``: row-lock waits; ``Client/ClientRead``: idle in a transaction,
waiting for the worker), and at the end prints the share of samples for each, the mean and peak number of
connections (the worker's and the API's pools together), and the statements most often seen waiting on
a lock. Read-only; it holds one connection of its own, which it leaves out of the counts.
"""

import argparse
import asyncio
import os
import time
from collections import Counter

from sqlalchemy import text

SAMPLE = text("""
    SELECT state, coalesce(wait_event_type, 'CPU') AS wait_type, coalesce(wait_event, '-') AS wait_event,
           left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS query
    FROM pg_stat_activity
    WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
""")


async def sample(database_url: str, seconds: float, every: float) -> None:
    from db.engine import make_engine

    engine = make_engine(database_url, pool_size=1)
    waits, lock_queries, connections, samples = Counter(), Counter(), [], 0
    deadline = time.monotonic() + seconds
    try:
        async with engine.connect() as conn:
            while time.monotonic() < deadline:
                rows = (await conn.execute(SAMPLE)).all()
                await conn.rollback()  # a fresh snapshot of pg_stat_activity next time
                samples += 1
                connections.append(len(rows))
                for row in rows:
                    if row.state != "idle":
                        waits[f"{row.state}: {row.wait_type}/{row.wait_event}"] += 1
                    if row.wait_type == "Lock":
                        lock_queries[row.query] += 1
                await asyncio.sleep(every)
    finally:
        await engine.dispose()
    report(samples, waits, lock_queries, connections)


def report(samples: int, waits: Counter, lock_queries: Counter, connections: list[int]) -> None:
    print(f"{samples} samples; connections mean {sum(connections) / max(samples, 1):.1f}, peak {max(connections, default=0)}")
    print("busy backends per sample, by state and wait event:")
    for what, count in waits.most_common(12):
        print(f"  {count / max(samples, 1):6.2f}  {what}")
    if lock_queries:
        print("statements waiting on a lock (samples):")
        for query, count in lock_queries.most_common(5):
            print(f"  {count:5d}  {query}")


def main() -> None:
    from config import get_settings
    from devstack import running_database_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or running_database_url(get_settings()))
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--every", type=float, default=0.1)
    args = parser.parse_args()
    if not args.database_url:
        raise SystemExit("no database URL: pass --database-url or run `make dev`")
    asyncio.run(sample(args.database_url, args.seconds, args.every))


if __name__ == "__main__":
    main()
