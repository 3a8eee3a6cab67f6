package clickhouse

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestClusterStatements checks the cluster form of every migration: each
// table is a Replicated* table with its original engine arguments, keys and
// partitioning, created ON CLUSTER, behind a Distributed table of the
// original name sharded by user; views and ALTERs go to the local tables.
func TestClusterStatements(t *testing.T) {
	all, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	tables, distributed := map[string]bool{}, map[string]bool{}
	sawView, sawAlter, sawDrop := false, false, false
	for _, m := range all {
		if m.sql == "" {
			continue
		}
		stmts, err := clusterStatements(m.sql, "pulse_cluster", "pulse")
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		orig := stripComments(m.sql)
		if cm := createTableRE.FindStringSubmatch(orig); cm != nil {
			name, engine, args := cm[1], cm[3], cm[4]
			tables[name] = true
			if len(stmts) != 2 {
				t.Fatalf("%s: %d statements, want local + distributed", m.name, len(stmts))
			}
			wantEngine := "ENGINE = Replicated" + engine + "('/clickhouse/tables/{shard}/pulse/" + name + "_local', '{replica}'"
			if args != "" {
				wantEngine += ", " + args
			}
			local := stmts[0]
			if !strings.HasPrefix(local, "CREATE TABLE IF NOT EXISTS "+name+"_local ON CLUSTER pulse_cluster (") ||
				!strings.Contains(local, wantEngine+")") {
				t.Errorf("%s: local table:\n%s\nwant %s", m.name, local, wantEngine)
			}
			for _, clause := range regexp.MustCompile(`(?m)^(PARTITION BY|ORDER BY) .*$`).FindAllString(orig, -1) {
				if !strings.Contains(local, clause) {
					t.Errorf("%s: local table lost %q", m.name, clause)
				}
			}
			want := "CREATE TABLE IF NOT EXISTS " + name + " ON CLUSTER pulse_cluster AS " + name + "_local\nENGINE = Distributed(pulse_cluster, pulse, " + name + "_local, cityHash64(user_id))"
			if stmts[1] != want {
				t.Errorf("%s: distributed table:\n%s\nwant\n%s", m.name, stmts[1], want)
			}
			distributed[name] = true
			continue
		}
		if dm := dropTableRE.FindStringSubmatch(orig); dm != nil {
			sawDrop = true
			want := []string{"DROP TABLE IF EXISTS " + dm[1] + " ON CLUSTER pulse_cluster", "DROP TABLE IF EXISTS " + dm[1] + "_local ON CLUSTER pulse_cluster"}
			if !reflect.DeepEqual(stmts, want) {
				t.Errorf("%s: %q, want %q", m.name, stmts, want)
			}
			continue
		}
		if len(stmts) != 1 {
			t.Fatalf("%s: %d statements", m.name, len(stmts))
		}
		switch s := stmts[0]; {
		case strings.HasPrefix(s, "CREATE MATERIALIZED VIEW"):
			sawView = true
			if !regexp.MustCompile(` ON CLUSTER pulse_cluster TO posts_\w+_local AS `).MatchString(s) || !strings.HasSuffix(strings.TrimSpace(s), "FROM posts_local") {
				t.Errorf("%s: view does not join the local tables:\n%s", m.name, s)
			}
		case strings.HasPrefix(s, "ALTER TABLE"):
			sawAlter = true
			if !regexp.MustCompile(`^ALTER TABLE \w+_local ON CLUSTER pulse_cluster MODIFY`).MatchString(s) {
				t.Errorf("%s: %s", m.name, s)
			}
		case strings.HasPrefix(s, "INSERT INTO"):
			if s != orig {
				t.Errorf("%s: backfill changed", m.name)
			}
		default:
			t.Errorf("%s: unexpected cluster statement %s", m.name, s)
		}
	}
	for _, ut := range UserTables {
		if !distributed[ut] {
			t.Errorf("user table %s has no Distributed table in cluster mode", ut)
		}
	}
	if len(tables) < 8 || !sawView || !sawAlter || !sawDrop {
		t.Errorf("tables %d, view %v, alter %v, drop %v: migrations not what this test expects", len(tables), sawView, sawAlter, sawDrop)
	}
	for _, bad := range []string{"DROP TABLE posts", "CREATE TABLE IF NOT EXISTS x (a Int8) ENGINE = Memory"} {
		if _, err := clusterStatements(bad, "c", "pulse"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := clusterStatements(all[0].sql, "c; DROP", "pulse"); err == nil {
		t.Error("cluster name not checked")
	}
}

func TestOpenChecksClusterName(t *testing.T) {
	_, err := Open(t.Context(), "clickhouse://127.0.0.1:1/pulse?cluster=a%20DROP")
	if err == nil || !strings.Contains(err.Error(), "cluster") {
		t.Fatalf("err %v, want a refusal of the cluster name", err)
	}
}
