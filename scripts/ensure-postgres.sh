#!/usr/bin/env bash
# A local PostgreSQL cluster for `make run-postgres`, started the way the tests start theirs
# (initdb + pg_ctl from LINLI_PG_BIN, trust auth for user app, as the postgres user when run as
# root) but kept under var/postgres across runs, on LINLI_PG_PORT (default 55432). Prints the
# LINLI_DATABASE_URL to use. `scripts/ensure-postgres.sh stop` stops it.
set -euo pipefail
bin="${LINLI_PG_BIN:-/usr/lib/postgresql/15/bin}"
port="${LINLI_PG_PORT:-55432}"
dir="$PWD/var/postgres"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "${1:-}" = stop ]; then
  [ -f "$dir/data/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  exit 0
fi
[ -x "$bin/initdb" ] || bash "$(dirname "$0")/ensure-packages.sh" postgresql >&2
mkdir -p "$dir"
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; chmod 755 "$dir"; fi
if [ ! -f "$dir/data/PG_VERSION" ]; then
  as_pg "$bin/initdb" -D "$dir/data" -A trust -U app -E UTF8 --locale=C.UTF-8 >/dev/null
fi
if ! as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
fi
psql="$bin/psql -h 127.0.0.1 -p $port -U app -d postgres -tAq"
if [ -z "$($psql -c "SELECT 1 FROM pg_database WHERE datname = 'linli'")" ]; then
  $psql -c "CREATE DATABASE linli" >/dev/null
fi
echo "postgresql+psycopg://app@127.0.0.1:$port/linli"
