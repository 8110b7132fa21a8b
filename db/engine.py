"""Engine construction. psycopg 3 async driver against PostgreSQL only."""

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def sqlalchemy_url(database_url: str) -> str:
    """Accept plain libpq URIs (``postgresql://``) and pin SQLAlchemy to psycopg 3."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix):]
    raise ValueError(f"DATABASE_URL must be a PostgreSQL URL, got {database_url.split(':', 1)[0]}://…")


def make_engine(database_url: str, *, pool_size: int = 10, max_overflow: int | None = None,
                pgbouncer: bool = False, pre_ping: bool = True, application_name: str | None = None) -> AsyncEngine:
    """At most ``pool_size + max_overflow`` connections (overflow defaults to ``pool_size``).

    ``pgbouncer``: no server-side prepared statements. psycopg prepares a query after it ran 5 times on a
    connection; behind PgBouncer in transaction mode the next run may land on a server connection that
    never saw it ("prepared statement "_pg3_0" does not exist").

    ``application_name``: what ``pg_stat_activity`` and the server log (``%a``) show for these connections, so
    ops can tell the API's from the worker's.
    """
    connect_args: dict = {"prepare_threshold": None} if pgbouncer else {}
    if application_name:
        connect_args["application_name"] = application_name
    return create_async_engine(
        sqlalchemy_url(database_url), pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow, pool_pre_ping=pre_ping,
        connect_args=connect_args,
    )


def primary_engine(settings) -> AsyncEngine:
    """The worker's pool (DATABASE_* pool and PgBouncer settings), without pre-ping. A ping is a round trip on
    every checkout of a connection, about 13 per order checkout in the worker (bench/README.md, run s15:
    checkouts 7.1 /s at concurrency 10 against 6.3-6.9 /s with it, one run). Without it a connection PostgreSQL
    dropped (a restart, a failover) fails the one activity attempt that draws it; SQLAlchemy then replaces every
    pooled connection, and Temporal runs the attempt again. The API, whose requests nobody retries, keeps the
    ping (``engines_from_settings``)."""
    return _configured(settings, settings.database_urls[0], pre_ping=False, application_name="orderflow-worker")


def engines_from_settings(settings) -> tuple[AsyncEngine, AsyncEngine]:
    """(primary, reads) for the API; reads is the primary itself without DATABASE_READ_URL."""
    primary_url, reads_url = settings.database_urls
    primary = _configured(settings, primary_url, application_name="orderflow-api")
    return primary, primary if reads_url == primary_url else _configured(settings, reads_url,
                                                                          application_name="orderflow-api-reads")


def _configured(settings, url: str, *, pre_ping: bool = True, application_name: str | None = None) -> AsyncEngine:
    return make_engine(url, pool_size=settings.database_pool_size, max_overflow=settings.database_max_overflow,
                       pgbouncer=settings.database_pgbouncer, pre_ping=pre_ping, application_name=application_name)
