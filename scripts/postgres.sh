#!/usr/bin/env bash
# scripts/postgres.sh: local PostgreSQL 15 cluster for Pulse development and tests.
#
#   scripts/postgres.sh start    initdb (first time) into $PULSE_DATA_DIR/postgres and start it
#   scripts/postgres.sh stop     pg_ctl stop -m fast
#   scripts/postgres.sh status   exit 0 if pg_isready answers
#
# Env: PULSE_DATA_DIR (default <repo>/.data), PULSE_PG_PORT (5432).
# Listens on 127.0.0.1 (and a unix socket in the data dir), trust auth, superuser `postgres`.
# As root the server runs as user `postgres`; otherwise as the current user.
# fsync/synchronous_commit/full_page_writes are OFF: fast, but a crash can lose or corrupt
# data. That is fine for a throwaway dev/test cluster; never copy these settings elsewhere.
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${PULSE_DATA_DIR:-$ROOT/.data}"
mkdir -p "$DATA_DIR" && DATA_DIR="$(cd "$DATA_DIR" && pwd)"
PGDATA="$DATA_DIR/postgres"
PORT="${PULSE_PG_PORT:-5432}"
URL="postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable"

# Run a command as the cluster owner, from a cwd it can read (root's cwd may be 0700).
as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}
ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2; }

prepare_dir() {
  [ -x "$PG_BIN/pg_ctl" ] || { echo "PostgreSQL 15 not found in $PG_BIN (apt-get install postgresql-15)" >&2; exit 1; }
  if [ "$(id -u)" = 0 ]; then
    # user postgres must be able to traverse every parent directory (e.g. /work, /tmp/clean)
    local d="$DATA_DIR"
    while [ "$d" != / ]; do
      runuser -u postgres -- test -x "$d" || chmod o+x "$d"
      d="$(dirname "$d")"
    done
    mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA"
  else
    mkdir -p "$PGDATA"
  fi
  chmod 700 "$PGDATA"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C >"$DATA_DIR/postgres-initdb.log" 2>&1 \
      || { cat "$DATA_DIR/postgres-initdb.log" >&2; exit 1; }
  fi
}

start() {
  if ready; then echo "postgres already running"; echo "$URL"; return 0; fi
  prepare_dir
  if ! as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/log" -w -t 30 \
      -o "-p $PORT -k $PGDATA -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null; then
    echo "postgres failed to start. Log tail ($PGDATA/log):" >&2
    tail -n 30 "$PGDATA/log" >&2 || true
    return 1
  fi
  echo "postgres started (data $PGDATA)"
  echo "$URL"
}

stop() {
  if [ ! -f "$PGDATA/PG_VERSION" ] || ! as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    if ready; then echo "postgres answers on :$PORT but is not the cluster in $PGDATA" >&2; return 1; fi
    echo "postgres not running"; return 0
  fi
  as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null
  echo "postgres stopped"
}

status() {
  if ready; then echo "postgres running on 127.0.0.1:$PORT"; return 0; fi
  echo "postgres not running"; return 1
}

case "${1:-}" in
  start|stop|status) "$1" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
