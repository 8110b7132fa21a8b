#!/bin/sh
# Runs once, on an empty data directory (postgres image's /docker-entrypoint-initdb.d): Temporal gets its
# own role and databases, so it never runs as the application's owner role and its tables stay apart.
set -eu
TEMPORAL_PASSWORD="$(cat /run/secrets/temporal_db_password)"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v temporal_password="$TEMPORAL_PASSWORD" <<'SQL'
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
REVOKE ALL ON DATABASE temporal, temporal_visibility FROM PUBLIC;
SQL
