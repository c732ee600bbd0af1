#!/usr/bin/env bash
# Start a PostgreSQL for the logical-connection tests and write its connection to
# var/pg/test-connection.env (a fresh random password each start; never committed).
# As root it starts the system cluster (pg_ctlcluster); otherwise a private cluster in var/pg.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var/pg
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$PGBIN" ] && ! command -v pg_ctl >/dev/null 2>&1; then
  echo "PostgreSQL is not installed (Debian/Ubuntu: apt install postgresql)." >&2
  exit 1
fi
PATH="$PGBIN:$PATH"
password=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')

if [ "$(id -u)" = 0 ] && command -v pg_ctlcluster >/dev/null 2>&1; then
  cluster=$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')
  port=$(pg_lsclusters -h | awk 'NR==1 {print $3}')
  pg_lsclusters -h | awk 'NR==1 {print $4}' | grep -q online || pg_ctlcluster $cluster start
  psql_admin() { su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -qAt $*"; }
else
  port=${GOVLAKE_PG_PORT:-54329}
  data=var/pg/data
  [ -d "$data" ] || initdb -D "$data" -U "$(id -un)" --auth=trust >/dev/null
  pg_ctl -D "$data" status >/dev/null 2>&1 || pg_ctl -D "$data" -l var/pg/server.log -w -o "-p $port -k /tmp -c listen_addresses=localhost" start >/dev/null
  psql_admin() { sh -c "psql -h localhost -p $port -d postgres -v ON_ERROR_STOP=1 -qAt $*"; }
fi

for _ in $(seq 1 30); do pg_isready -h localhost -p "$port" -q && break; sleep 1; done
psql_admin "-c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'govlake_test') THEN CREATE ROLE govlake_test LOGIN; END IF; END \\\$\\\$;\""
# CREATEDB: the scheduler test gives each run a private Airflow metadata database, dropped after.
psql_admin "-c \"ALTER ROLE govlake_test CREATEDB PASSWORD '$password'\""
psql_admin "-d postgres -c \"SELECT 1 FROM pg_database WHERE datname = 'govlake_test'\"" | grep -q 1 \
  || psql_admin "-c \"CREATE DATABASE govlake_test OWNER govlake_test\""
echo "GOVLAKE_TEST_PG=postgresql://govlake_test:${password}@localhost:${port}/govlake_test" > var/pg/test-connection.env
chmod 600 var/pg/test-connection.env
echo "PostgreSQL ready on localhost:$port (connection in var/pg/test-connection.env)"
