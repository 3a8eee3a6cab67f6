package clickhouse

import (
	"fmt"
	"regexp"
	"strings"
)

// Cluster mode: when the URL names a cluster (clickhouse://host:9000/pulse?cluster=NAME),
// every migration runs in its cluster form (clusterStatements):
//
//   - each table T becomes T_local, created ON CLUSTER with the Replicated
//     form of its engine (replica path /clickhouse/tables/{shard}/DB/T_local,
//     replica name {replica}: the servers' macros), and T itself becomes a
//     Distributed table over T_local, sharded by cityHash64(user_id), so
//     that every statement outside the migrations (inserts, queries,
//     rollups) reads and writes T unchanged and one user's rows stay on one
//     shard (argMax by identity and FINAL stay exact per shard);
//   - materialized views are created ON CLUSTER between the local tables, so
//     each shard feeds its own posts_current_local;
//   - ALTERs go to the local tables ON CLUSTER;
//   - INSERT ... SELECT backfills run as written, through the Distributed
//     tables;
//   - DROP TABLE IF EXISTS T drops T and T_local ON CLUSTER (a view has no
//     T_local: IF EXISTS skips it).
//
// Cluster mode needs ZooKeeper or ClickHouse Keeper and the {shard} and
// {replica} macros on every server, and a current ClickHouse (it is checked
// against ClickHouse 26 through chDB; 18.16 is not a target for it).
// docs/olap.md, "Running on a cluster", has the setup.

// LocalSuffix names the per-shard table behind each Distributed table.
const LocalSuffix = "_local"

var (
	createTableRE = regexp.MustCompile(`(?is)^CREATE TABLE IF NOT EXISTS (\w+) (\(.*\))\s*ENGINE = (\w+)(?:\(([^)]*)\))?(.*)$`)
	createViewRE  = regexp.MustCompile(`(?is)^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS\s+(.*\bFROM)\s+(\w+)(.*)$`)
	alterTableRE  = regexp.MustCompile(`(?is)^ALTER TABLE (\w+)\s+(.*)$`)
	insertRE      = regexp.MustCompile(`(?is)^INSERT INTO `)
	dropTableRE   = regexp.MustCompile(`(?is)^DROP TABLE IF EXISTS (\w+)$`)
	identRE       = regexp.MustCompile(`^\w+$`)
)

// stripComments removes "--" comment lines, which carry no statement.
func stripComments(sql string) string {
	var b strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return strings.TrimSpace(b.String())
}

// clusterStatements rewrites one migration statement into its cluster form
// for cluster on database. A statement of a kind it does not know is an
// error, so a new kind of migration cannot silently skip the cluster.
func clusterStatements(sql, cluster, database string) ([]string, error) {
	if !identRE.MatchString(cluster) || !identRE.MatchString(database) {
		return nil, fmt.Errorf("cluster and database must be plain identifiers, got %q and %q", cluster, database)
	}
	stmt := stripComments(sql)
	on := " ON CLUSTER " + cluster
	if m := createTableRE.FindStringSubmatch(stmt); m != nil {
		name, cols, engine, args, rest := m[1], m[2], m[3], strings.TrimSpace(m[4]), m[5]
		if !strings.HasSuffix(engine, "MergeTree") {
			return nil, fmt.Errorf("table %s: engine %s has no replicated form", name, engine)
		}
		local := name + LocalSuffix
		repl := fmt.Sprintf("'/clickhouse/tables/{shard}/%s/%s', '{replica}'", database, local)
		if args != "" {
			repl += ", " + args
		}
		return []string{
			fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s %s\nENGINE = Replicated%s(%s)%s", local, on, cols, engine, repl, rest),
			fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s%s AS %s\nENGINE = Distributed(%s, %s, %s, cityHash64(user_id))", name, on, local, cluster, database, local),
		}, nil
	}
	if m := createViewRE.FindStringSubmatch(stmt); m != nil {
		return []string{fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s%s TO %s AS %s %s%s",
			m[1], on, m[2]+LocalSuffix, m[3], m[4]+LocalSuffix, m[5])}, nil
	}
	if m := alterTableRE.FindStringSubmatch(stmt); m != nil {
		return []string{fmt.Sprintf("ALTER TABLE %s%s %s", m[1]+LocalSuffix, on, m[2])}, nil
	}
	if m := dropTableRE.FindStringSubmatch(stmt); m != nil {
		return []string{
			fmt.Sprintf("DROP TABLE IF EXISTS %s%s", m[1], on),
			fmt.Sprintf("DROP TABLE IF EXISTS %s%s", m[1]+LocalSuffix, on),
		}, nil
	}
	if insertRE.MatchString(stmt) {
		return []string{stmt}, nil
	}
	return nil, fmt.Errorf("no cluster form for statement: %.60s", stmt)
}

// schemaMigrationsSQL is the DDL of the table recording applied
// migrations: local on one server, replicated within each shard on a
// cluster (every shard runs the idempotent migrations once for itself).
func schemaMigrationsSQL(cluster, database string) string {
	const cols = `(version UInt32, name String, applied_at DateTime('UTC') DEFAULT now())`
	if cluster == "" {
		return "CREATE TABLE IF NOT EXISTS schema_migrations " + cols + " ENGINE = ReplacingMergeTree ORDER BY version"
	}
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER %s %s ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/%s/schema_migrations', '{replica}') ORDER BY version",
		cluster, cols, database)
}
