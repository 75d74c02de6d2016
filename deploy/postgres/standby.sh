#!/bin/sh
# A streaming standby of $PRIMARY_HOST: on the first start (an empty volume) it
# clones the primary with pg_basebackup -R (standby.signal + primary_conninfo),
# then runs as a hot standby. Runs as the postgres user.
set -eu
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -R -X stream -c fast; do
        echo "waiting for the primary to accept a base backup" >&2
        rm -rf "${PGDATA:?}"/*
        sleep 2
    done
    chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on
