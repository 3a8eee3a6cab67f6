package postgres

import (
	"cmp"
	"context"
	"crypto/sha256"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrateLockKey is the pg_advisory_lock key serializing Migrate across
// processes ("pulse_mg").
const migrateLockKey int64 = 0x70756c73655f6d67

type migration struct {
	version  int64
	name     string // file name, e.g. "0001_init.sql"
	sql      string
	checksum []byte // sha256 of sql
}

// migrations parses the embedded migrations once. Files are named
// NNNN_description.sql; versions must be unique and positive.
var migrations = sync.OnceValues(func() ([]migration, error) {
	return loadMigrations(migrationFS, "migrations")
})

func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		prefix, _, ok := strings.Cut(name, "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		ms = append(ms, migration{version: v, name: name, sql: string(b), checksum: sum[:]})
	}
	slices.SortFunc(ms, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// Migrate brings the schema up to date by applying, in version order, the
// embedded migrations not yet recorded in the schema_migrations table.
//
// Migrations are forward-only. Each runs in its own transaction together
// with its schema_migrations row, so a failed migration leaves no trace and
// the earlier ones stay applied. Migrate holds a PostgreSQL advisory lock
// while it works, so concurrent callers (e.g. several replicas starting at
// once) serialize and the later ones find nothing to do. It is idempotent.
//
// Migrate fails with an EINTERNAL error if an applied migration's embedded
// SQL has changed since it was applied (migrations must never be edited once
// released). Versions recorded in the database but unknown to this binary
// (a newer release ran first) are ignored.
func (db *DB) Migrate(ctx context.Context) error {
	const op = "postgres.Migrate"
	ms, err := migrations()
	if err != nil {
		return errorf(pulse.EINTERNAL, op, "load migrations: %w", err)
	}
	err = db.withConn(ctx, func(c *pgx.Conn) error {
		if _, err := c.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
			return fmt.Errorf("acquire migration lock: %w", err)
		}
		defer unlockMigrations(ctx, c)
		return applyMigrations(ctx, c, ms)
	})
	return translate(op, err)
}

// unlockMigrations releases the migration lock. If that fails the
// connection is closed, which releases the session-level lock too (and makes
// the pool discard the connection).
func unlockMigrations(ctx context.Context, c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := c.Exec(ctx, "SELECT pg_advisory_unlock($1)", migrateLockKey); err != nil {
		_ = c.Close(ctx)
	}
}

func applyMigrations(ctx context.Context, c *pgx.Conn, ms []migration) error {
	if _, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    bigint      PRIMARY KEY,
		name       text        NOT NULL,
		checksum   bytea       NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	rows, err := c.Query(ctx, "SELECT version, checksum FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	applied := make(map[int64][]byte)
	var (
		v   int64
		sum []byte
	)
	if _, err := pgx.ForEachRow(rows, []any{&v, &sum}, func() error {
		applied[v] = slices.Clone(sum)
		return nil
	}); err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	for _, m := range ms {
		if sum, ok := applied[m.version]; ok {
			if !slices.Equal(sum, m.checksum) {
				return &pulse.Error{Code: pulse.EINTERNAL, Err: fmt.Errorf("migration %s was modified after it was applied", m.name)}
			}
			continue
		}
		err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			// No arguments: pgx uses the simple protocol, which allows
			// several statements in one Exec.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx,
				"INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
				m.version, m.name, m.checksum)
			return err
		})
		if err != nil {
			return fmt.Errorf("apply migration %s: %w", m.name, err)
		}
	}
	return nil
}
