#!/bin/sh
# Runs once, when the primary's volume is initialised (docker-entrypoint-initdb.d):
# the service's role (migrations grant it EXECUTE only), and a role the standby
# streams WAL as, allowed to replicate from the stack's network.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v service="$SERVICE_PASSWORD" -v replication="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE accounts_service WITH LOGIN PASSWORD :'service';
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'replication';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
