#!/usr/bin/env bash
# Starts the local PostgreSQL cluster (Debian's postgresql package) and makes sure the test role
# exists. Prints the URL the tests use. Idempotent. Listens on 127.0.0.1 only (Debian's default).
set -euo pipefail
# Only the URL goes to stdout: pg_ctlcluster prints things like "Removed stale pid file." there,
# which would end up inside the URL of whoever captures it. (No extra fd for the URL: the server
# started below would inherit it and hold the caller's $(...) open.)
{
PGVER=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -1)
CLUSTER=${GGNET_PG_CLUSTER:-main}
if ! pg_lsclusters -h | awk -v v="$PGVER" -v c="$CLUSTER" '$1==v && $2==c {found=1} END {exit !found}'; then
  pg_createcluster "$PGVER" "$CLUSTER" >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$PGVER" -v c="$CLUSTER" '$1==v && $2==c && $4=="online" {ok=1} END {exit !ok}'; then
  pg_ctlcluster "$PGVER" "$CLUSTER" start
fi
PORT=$(pg_lsclusters -h | awk -v v="$PGVER" -v c="$CLUSTER" '$1==v && $2==c {print $3}')
for _ in $(seq 1 50); do
  su postgres -c "psql -p $PORT -qAtc 'select 1'" >/dev/null 2>&1 && break
  sleep 0.2
done
# the test role may create a database per test file (dropped again after it, WITH (FORCE): that
# also ends an autovacuum worker busy in it, which needs pg_signal_backend)
su postgres -c "psql -p $PORT -qAt" <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ggnet_test') THEN
    CREATE ROLE ggnet_test LOGIN CREATEDB PASSWORD 'ggnet_test';
  END IF;
END \$\$;
GRANT pg_signal_backend TO ggnet_test;
SQL
su postgres -c "psql -p $PORT -qAtc \"SELECT 1 FROM pg_database WHERE datname='ggnet_test'\"" | grep -q 1 ||
  su postgres -c "createdb -p $PORT -O ggnet_test ggnet_test"
} >&2
echo "postgres://ggnet_test:ggnet_test@127.0.0.1:$PORT/ggnet_test"
