package clickhouse

import (
	"context"
	"embed"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies the embedded migrations not yet applied, in order. Each
// file holds one statement. Migrations are forward-only and idempotent
// (CREATE ... IF NOT EXISTS), so two processes migrating at once are safe.
func (db *DB) Migrate(ctx context.Context) error {
	if err := db.conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version UInt32, name String, applied_at DateTime('UTC') DEFAULT now()
	) ENGINE = ReplacingMergeTree ORDER BY version`); err != nil {
		return fmt.Errorf("clickhouse: migrate: %w", translate(err))
	}
	applied := map[uint32]bool{}
	rows, err := db.conn.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("clickhouse: migrate: %w", translate(err))
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("clickhouse: migrate: %w", translate(err))
		}
		applied[v] = true
	}
	rows.Close()
	entries, err := migrations.ReadDir("migrations")
	if err != nil {
		return fmt.Errorf("clickhouse: migrate: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		name := e.Name()
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			return fmt.Errorf("clickhouse: migrate: bad migration name %q", name)
		}
		if applied[uint32(v)] {
			continue
		}
		body, err := migrations.ReadFile("migrations/" + name)
		if err != nil {
			return fmt.Errorf("clickhouse: migrate: %w", err)
		}
		if err := db.conn.Exec(ctx, string(body)); err != nil {
			return fmt.Errorf("clickhouse: migrate %s: %w", name, translate(err))
		}
		batch, err := db.conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name)")
		if err != nil {
			return fmt.Errorf("clickhouse: migrate %s: record: %w", name, translate(err))
		}
		if err := batch.Append(uint32(v), name); err != nil {
			batch.Abort()
			return fmt.Errorf("clickhouse: migrate %s: record: %w", name, err)
		}
		if err := batch.Send(); err != nil {
			return fmt.Errorf("clickhouse: migrate %s: record: %w", name, translate(err))
		}
	}
	return nil
}
