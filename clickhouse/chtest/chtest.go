package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pulsehq/pulse/clickhouse"
)

// URLEnv names the environment variable holding the ClickHouse server
// tests use; default clickhouse://127.0.0.1:9000/default (what
// scripts/clickhouse.sh starts).
const URLEnv = "PULSE_TEST_CLICKHOUSE_URL"

// URL returns a URL for a fresh, uniquely named database on the test
// server. clickhouse.Open creates the database.
func URL(tb testing.TB) string {
	tb.Helper()
	var b [6]byte
	rand.Read(b[:])
	return NamedURL(tb, "pulse_test_"+hex.EncodeToString(b[:]))
}

// NamedURL returns a URL for the database name on the test server. Nothing
// drops it: it is for data a benchmark keeps between runs.
func NamedURL(tb testing.TB, name string) string {
	tb.Helper()
	base := os.Getenv(URLEnv)
	if base == "" {
		base = "clickhouse://127.0.0.1:9000/default"
	}
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("chtest: %s: %v", URLEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// MustOpen opens and migrates a fresh database for one test and drops it
// when the test ends.
func MustOpen(tb testing.TB) *clickhouse.DB {
	tb.Helper()
	return MustOpenURL(tb, URL(tb))
}

// MustOpenURL opens and migrates the database at url, dropping it when the
// test ends.
func MustOpenURL(tb testing.TB, url string) *clickhouse.DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := clickhouse.Open(ctx, url)
	if err != nil {
		tb.Fatalf("chtest: open test database: %v (is ClickHouse running? scripts/clickhouse.sh start)", err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		tb.Fatalf("chtest: migrate test database: %v", err)
	}
	tb.Cleanup(func() {
		db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = drop(ctx, url, db.Database()) // best effort, like the server's own cleanup
	})
	return db
}

// drop drops database on the server at rawURL.
func drop(ctx context.Context, rawURL, database string) error {
	opts, err := ch.ParseDSN(rawURL)
	if err != nil {
		return err
	}
	opts.Auth.Database = "default"
	conn, err := ch.Open(opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Exec(ctx, "DROP DATABASE IF EXISTS `"+strings.ReplaceAll(database, "`", "``")+"`")
}
