package clickhouse

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestReadQueriesStopAtTheServerSideTimeout: a read query that would run
// forever is stopped by ClickHouse (max_execution_time, code 159) at the
// configured limit, long before the caller's own deadline.
func TestReadQueriesStopAtTheServerSideTimeout(t *testing.T) {
	url := testURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := Open(ctx, url, WithQueryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = db.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(db.database))
		db.Close()
	})
	err = db.query(ctx, statement{sql: "SELECT count() FROM system.numbers"}, func(scanner) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "code 159") {
		t.Fatalf("endless query: err %v, want code 159 (TIMEOUT_EXCEEDED)", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the caller's deadline ended the query, not the server")
	}
	if _, err := Open(ctx, url, WithQueryTimeout(time.Millisecond)); err == nil {
		t.Fatal("a sub-second query timeout was accepted")
	}
}
