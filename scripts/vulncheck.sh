#!/usr/bin/env bash
# scripts/vulncheck.sh: govulncheck over the whole module (the version pinned
# as a tool in go.mod); exits non-zero when the code calls a vulnerable
# symbol, in a dependency or in the standard library of the Go that builds it.
#
# The vulnerability database is vuln.go.dev when it answers. Where it does
# not (this project's CI machines reach only the Go module proxy), the same
# database is built from the newest golang.org/x/vulndb snapshot the module
# proxy serves: its data/osv entries, indexed by vulndb's own cmd/indexdb,
# cached in $PULSE_DATA_DIR/vulndb/<snapshot version>.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO=${GO:-go}

if curl -fsS -m 5 -o /dev/null https://vuln.go.dev/index/db.json.gz 2>/dev/null; then
  echo "vulncheck: database vuln.go.dev"
  exec $GO tool govulncheck ./...
fi

data=${PULSE_DATA_DIR:-$PWD/.data}
ver=$($GO list -m -f '{{.Version}}' golang.org/x/vulndb@latest)
db="$data/vulndb/$ver"
if [ ! -f "$db/index/modules.json" ]; then
  src=$($GO mod download -json "golang.org/x/vulndb@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rm -rf "$db.tmp"
  $GO run "golang.org/x/vulndb/cmd/indexdb@$ver" -vulns "$src/data/osv" -out "$db.tmp"
  mv "$db.tmp" "$db"
fi
echo "vulncheck: database golang.org/x/vulndb@$ver (module proxy snapshot)"
exec $GO tool govulncheck -db "file://$db" ./...
