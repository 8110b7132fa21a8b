"""Alembic runs synchronously with psycopg 3; the URL comes from the caller or DATABASE_URL."""

import os

from alembic import context
from sqlalchemy import create_engine, pool

from db.engine import sqlalchemy_url
from db.tables import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL", "")
if not url:
    raise SystemExit("DATABASE_URL is not set")

engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
