package clickhouse_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse/clickhouse"
)

// TestReadQueriesStopAtTheServerSideTimeout: a read query that would run
// forever is stopped by ClickHouse (max_execution_time, code 159) at the
// configured limit, long before the caller's own deadline.
func TestReadQueriesStopAtTheServerSideTimeout(t *testing.T) {
	url := clickhouse.TestURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := clickhouse.Open(ctx, url, clickhouse.WithQueryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.RunQuery(ctx, "SELECT count() FROM system.numbers")
	if err == nil || !strings.Contains(err.Error(), "code 159") {
		t.Fatalf("endless query: err %v, want code 159 (TIMEOUT_EXCEEDED)", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the caller's deadline ended the query, not the server")
	}
	if _, err := clickhouse.Open(ctx, url, clickhouse.WithQueryTimeout(time.Millisecond)); err == nil {
		t.Fatal("a sub-second query timeout was accepted")
	}
}
