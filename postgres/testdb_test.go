package postgres

// This package's own tests open their databases here; other packages use
// pgtest, which this package's tests cannot import (pgtest imports
// postgres). Both create a pulse_test_<random> database per test on
// $PULSE_TEST_POSTGRES_URL.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pulsehq/pulse/vault"
)

// defaultTestURL is the server mustOpenTest uses when PULSE_TEST_POSTGRES_URL
// is unset: the one scripts/postgres.sh starts.
const defaultTestURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// mustOpenTest returns a DB on a new, migrated database of its own. It connects to PULSE_TEST_POSTGRES_URL
// (default defaultTestURL) with a role allowed to create databases, creates
// pulse_test_<random>, and registers a cleanup that closes the DB and drops
// the database. The DB has a KeyWrapper holding one random master key; pass
// WithKeyWrapper to use another. It fails the test if the server is
// unreachable.
func mustOpenTest(tb testing.TB, opts ...Option) *DB {
	tb.Helper()
	db := mustOpenTestUnmigrated(tb, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.Migrate(ctx); err != nil {
		tb.Fatalf("postgres tests: %v", err)
	}
	return db
}

// mustOpenTestUnmigrated is mustOpenTest without Migrate.
func mustOpenTestUnmigrated(tb testing.TB, opts ...Option) *DB {
	tb.Helper()
	cfg := newTestDatabase(tb)
	kr, err := vault.NewKeyring("test", map[string][]byte{"test": vault.GenerateKey()})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := openConfig(ctx, "postgres tests", cfg, append([]Option{WithKeyWrapper(kr)}, opts...)...)
	if err != nil {
		tb.Fatalf("postgres tests: %v", err)
	}
	tb.Cleanup(db.Close) // runs before the DROP DATABASE registered earlier
	return db
}

// testServerURL returns PULSE_TEST_POSTGRES_URL, or defaultTestURL if it is
// unset.
func testServerURL() string {
	if url := os.Getenv("PULSE_TEST_POSTGRES_URL"); url != "" {
		return url
	}
	return defaultTestURL
}

// newTestDatabase creates an empty database, registers its removal, and
// returns a pool config for it.
func newTestDatabase(tb testing.TB) *pgxpool.Config {
	tb.Helper()
	url := testServerURL()
	cfg, err := parsePoolConfig(url)
	if err != nil {
		tb.Fatalf("postgres tests: PULSE_TEST_POSTGRES_URL: %v", err)
	}
	adminCfg := cfg.ConnConfig.Copy()
	name := "pulse_test_" + hex.EncodeToString(randomBytes(8))
	admin := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.ConnectConfig(ctx, adminCfg)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, sql)
		return err
	}
	if err := admin("CREATE DATABASE " + name); err != nil {
		tb.Fatalf("postgres tests: create test database (is PostgreSQL running? "+
			"scripts/postgres.sh start, or set PULSE_TEST_POSTGRES_URL): %v", err)
	}
	tb.Cleanup(func() {
		if err := admin("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			tb.Errorf("postgres tests: drop test database %s: %v", name, err)
		}
	})
	cfg.ConnConfig.Database = name
	return cfg
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
