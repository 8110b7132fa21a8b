#!/bin/sh
# One-shot job (admin-tools image): create or upgrade Temporal's schemas with temporal-sql-tool, as the
# temporal role. Safe to rerun: setup-schema -v 0.0 is idempotent and update-schema applies only what
# is missing, so the same job upgrades the schema when TEMPORAL_VERSION moves.
set -eu
export SQL_PASSWORD="$(cat /run/secrets/temporal_db_password)"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12
for db in temporal temporal_visibility; do
  case "$db" in temporal) versioned="$SCHEMA_DIR/temporal/versioned" ;; *) versioned="$SCHEMA_DIR/visibility/versioned" ;; esac
  temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u temporal --db "$db" setup-schema -v 0.0
  temporal-sql-tool --plugin postgres12 --ep postgres -p 5432 -u temporal --db "$db" update-schema -d "$versioned"
done
echo "temporal schemas are current"
