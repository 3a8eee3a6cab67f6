// Package pgtest gives tests a PostgreSQL database of their own. Only tests
// import it: it links package testing, which the pulse binary must not.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/vault"
)

// URLEnv names the environment variable holding the server tests use, as
// a URL or key=value connection string for a role allowed to create
// databases. Default DefaultURL.
const URLEnv = "PULSE_TEST_POSTGRES_URL"

// DefaultURL is the server tests use when URLEnv is unset: the one
// scripts/postgres.sh starts.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL returns the test server's URL: $PULSE_TEST_POSTGRES_URL, or
// DefaultURL.
func ServerURL() string {
	if u := os.Getenv(URLEnv); u != "" {
		return u
	}
	return DefaultURL
}

// WithDatabase returns server (a URL or key=value connection string) with
// its database replaced by name.
func WithDatabase(server, name string) (string, error) {
	if strings.HasPrefix(server, "postgres://") || strings.HasPrefix(server, "postgresql://") {
		u, err := url.Parse(server)
		if err != nil {
			return "", err
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	return server + " dbname='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(name) + "'", nil
}

// FreshURL returns the URL of a database pulse_test_<random> that does not
// exist yet on the test server (for code that creates its own, such as
// postgres.CreateDatabase or pulse dev), and registers a cleanup that drops
// it, closing what is still connected, if it exists then.
func FreshURL(tb testing.TB) string {
	tb.Helper()
	server := ServerURL()
	var b [8]byte
	rand.Read(b[:])
	name := "pulse_test_" + hex.EncodeToString(b[:])
	dbURL, err := WithDatabase(server, name)
	if err != nil {
		tb.Fatalf("pgtest: %s: %v", URLEnv, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, server)
		if err == nil {
			defer c.Close(ctx)
			_, err = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		}
		if err != nil {
			tb.Errorf("pgtest: drop test database %s: %v", name, err)
		}
	})
	return dbURL
}

// NewDatabase creates an empty database (see FreshURL) and returns its URL.
// It fails the test if the server is unreachable.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	dbURL := FreshURL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := postgres.CreateDatabase(ctx, dbURL); err != nil {
		tb.Fatalf("pgtest: create test database (is PostgreSQL running? "+
			"scripts/postgres.sh start, or set %s): %v", URLEnv, err)
	}
	return dbURL
}

// MustOpen returns a DB on a new, migrated database of its own (see
// NewDatabase), closed when the test ends. The DB has a KeyWrapper holding
// one random master key; pass postgres.WithKeyWrapper to use another.
func MustOpen(tb testing.TB, opts ...postgres.Option) *postgres.DB {
	tb.Helper()
	db := MustOpenUnmigrated(tb, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.Migrate(ctx); err != nil {
		tb.Fatalf("pgtest: migrate: %v", err)
	}
	return db
}

// MustOpenUnmigrated is MustOpen without the migration.
func MustOpenUnmigrated(tb testing.TB, opts ...postgres.Option) *postgres.DB {
	tb.Helper()
	dbURL := NewDatabase(tb)
	kr, err := vault.NewKeyring("test", map[string][]byte{"test": vault.GenerateKey()})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, dbURL, append([]postgres.Option{postgres.WithKeyWrapper(kr)}, opts...)...)
	if err != nil {
		tb.Fatalf("pgtest: open: %v", err)
	}
	tb.Cleanup(db.Close) // runs before the DROP DATABASE registered earlier
	return db
}
