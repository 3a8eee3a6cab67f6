package clickhouse

// This package's own tests open their databases here; other packages use
// chtest, which this package's tests cannot import (chtest imports
// clickhouse).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"
)

// testURLEnv names the env var holding the ClickHouse server tests use;
// default clickhouse://127.0.0.1:9000/default (what scripts/clickhouse.sh
// starts).
const testURLEnv = "PULSE_TEST_CLICKHOUSE_URL"

// testURL returns a URL for a fresh, uniquely named database on the test
// server. The database is created by Open.
func testURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(testURLEnv)
	if base == "" {
		base = "clickhouse://127.0.0.1:9000/default"
	}
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("clickhouse: %s: %v", testURLEnv, err)
	}
	var b [6]byte
	rand.Read(b[:])
	u.Path = "/pulse_test_" + hex.EncodeToString(b[:])
	return u.String()
}

// mustOpenTest opens and migrates a fresh database for one test and drops
// it when the test ends.
func mustOpenTest(tb testing.TB) *DB {
	tb.Helper()
	return mustOpenURL(tb, testURL(tb))
}

// mustOpenURL opens and migrates the database at url, dropping it when the
// test ends.
func mustOpenURL(tb testing.TB, url string) *DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := Open(ctx, url)
	if err != nil {
		tb.Fatalf("clickhouse: open test database: %v (is ClickHouse running? scripts/clickhouse.sh start)", err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		tb.Fatalf("clickhouse: migrate test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = db.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(db.database))
		db.Close()
	})
	return db
}
