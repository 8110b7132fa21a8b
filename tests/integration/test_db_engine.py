"""Engine options against real PostgreSQL: PgBouncer mode never leaves prepared statements behind."""

import pytest
from sqlalchemy import text

from db.engine import make_engine

# psycopg prepares a statement once it ran this many times on one connection (its default threshold).
PSYCOPG_PREPARE_THRESHOLD = 5


async def _prepared_after_repeats(database_url: str, pgbouncer: bool) -> int:
    engine = make_engine(database_url, pool_size=1, max_overflow=0, pgbouncer=pgbouncer)
    try:
        async with engine.connect() as conn:
            for n in range(PSYCOPG_PREPARE_THRESHOLD + 2):
                await conn.execute(text("SELECT CAST(:n AS int)"), {"n": n})
            return await conn.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
    finally:
        await engine.dispose()


@pytest.mark.parametrize(("pgbouncer", "prepares"), [(False, True), (True, False)])
async def test_pgbouncer_mode_turns_prepared_statements_off(database_url, pgbouncer, prepares):
    """Behind PgBouncer (transaction mode) a statement prepared on one server connection is missing on the
    next; DATABASE_PGBOUNCER=true must leave none to miss."""
    assert (await _prepared_after_repeats(database_url, pgbouncer) > 0) is prepares
