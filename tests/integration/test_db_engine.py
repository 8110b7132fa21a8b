"""Engine options against real PostgreSQL: PgBouncer mode never leaves prepared statements behind; the worker's
pool does without pre-ping; each names its connections."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from config import Settings
from db.engine import engines_from_settings, make_engine, primary_engine

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


async def _terminate_pooled_connections(engine, database_url: str) -> None:
    """Drop the one pooled connection of ``engine`` as a PostgreSQL restart would."""
    async with engine.connect() as conn:
        backend = await conn.scalar(text("SELECT pg_backend_pid()"))
    admin = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with admin.connect() as conn:
            assert await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    finally:
        await admin.dispose()


async def test_a_dropped_connection_costs_the_worker_one_attempt_and_the_api_none(database_url):
    """The worker's pool has no pre-ping (a round trip per use, issue 13): the activity attempt that draws a
    connection PostgreSQL dropped fails, as Temporal retries it, and the pool is replaced. The API's pool pings."""
    settings = Settings(database_url=database_url, database_pool_size=1, database_max_overflow=0)
    worker = primary_engine(settings)
    api, _ = engines_from_settings(settings)
    try:
        for engine in (worker, api):
            await _terminate_pooled_connections(engine, database_url)
        with pytest.raises(DBAPIError):
            async with worker.connect() as conn:
                await conn.execute(text("SELECT 1"))
        async with worker.connect() as conn:  # the retry
            assert await conn.scalar(text("SELECT 1")) == 1
        async with api.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        await worker.dispose()
        await api.dispose()


async def test_the_api_and_the_worker_name_their_connections(database_url):
    """pg_stat_activity and the server log (``%a``) tell the API's connections from the worker's."""
    settings = Settings(database_url=database_url, database_pool_size=1, database_max_overflow=0)
    worker = primary_engine(settings)
    api, reads = engines_from_settings(settings)
    try:
        for engine, name in ((worker, "orderflow-worker"), (api, "orderflow-api")):
            async with engine.connect() as conn:
                assert await conn.scalar(text("SELECT current_setting('application_name')")) == name
        assert reads is api  # no DATABASE_READ_URL: the reads share the primary's pool
    finally:
        await worker.dispose()
        await api.dispose()
