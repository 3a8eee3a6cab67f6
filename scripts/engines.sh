#!/usr/bin/env bash
# scripts/engines.sh: start|stop|status both local engines (ClickHouse + PostgreSQL).
# See scripts/clickhouse.sh and scripts/postgres.sh for ports and environment variables.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case "${1:-}" in
  start) "$here/clickhouse.sh" start; "$here/postgres.sh" start ;;
  stop|status) rc=0; "$here/clickhouse.sh" "$1" || rc=1; "$here/postgres.sh" "$1" || rc=1; exit $rc ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
