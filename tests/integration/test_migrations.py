"""The Alembic migrations produce exactly the schema db/tables.py describes."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from db.engine import sqlalchemy_url
from db.tables import metadata


def test_migrated_database_matches_the_table_definitions(database_url):
    engine = create_engine(sqlalchemy_url(database_url))
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    engine.dispose()
    assert differences == [], f"db/tables.py and migrations/ disagree: {differences}"
