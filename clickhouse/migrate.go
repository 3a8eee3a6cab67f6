package clickhouse

import (
	"bufio"
	"context"
	"embed"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one versioned schema step: an embedded SQL file holding one
// statement, or a Go step (data backfills that need this package's code).
type migration struct {
	version uint32
	name    string
	sql     string
	run     func(*DB, context.Context) error
	// minServer is the oldest server (major, minor) the step runs on; zero
	// means any. A step the server is too old for is skipped and not
	// recorded, so it applies on the first migration after an upgrade.
	minServer [2]int
}

// goMigrations are the steps written in Go, by version.
var goMigrations = []migration{
	// The rollup tables (0006-0011) start empty; fill them from whatever
	// hourly and post rows were written before they existed.
	{version: 12, name: "0012_rebuild_rollups", run: (*DB).rebuildRollupsStep},
}

// postsCurrentSteps are the migrations that create and fill posts_current,
// which RebuildRollups reads (0017-0019).
var postsCurrentSteps = [2]uint32{17, 19}

// rebuildRollupsStep is migration 0012: RebuildRollups, which reads
// posts_current; on a database older than posts_current (0017-0019) it
// creates and fills it first. Those three steps are idempotent (CREATE IF
// NOT EXISTS, a backfill that only adds duplicates of existing versions)
// and run again in their turn.
func (db *DB) rebuildRollupsStep(ctx context.Context) error {
	all, err := sqlMigrations()
	if err != nil {
		return err
	}
	for _, m := range all {
		if m.version >= postsCurrentSteps[0] && m.version <= postsCurrentSteps[1] {
			if err := db.execMigration(ctx, m.sql); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
		}
	}
	return db.RebuildRollups(ctx)
}

// SchemaVersion returns the version of the newest migration: a database
// Migrate brought up to date has this layout.
func SchemaVersion() uint32 {
	all, err := loadMigrations()
	if err != nil || len(all) == 0 {
		panic(fmt.Sprintf("clickhouse: embedded migrations: %v", err)) // the embedded files are fixed at build time
	}
	return all[len(all)-1].version
}

// minServerDirective marks a migration that needs a newer server, e.g.
// "-- pulse:min-server 20.3" on a line of its own.
const minServerDirective = "-- pulse:min-server "

// loadMigrations returns every migration, ordered by version. Versions are
// unique.
func loadMigrations() ([]migration, error) {
	files, err := sqlMigrations()
	if err != nil {
		return nil, err
	}
	out := append(files, goMigrations...)
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", out[i-1].name, out[i].name, out[i].version)
		}
	}
	return out, nil
}

// sqlMigrations returns the migrations of the embedded SQL files, ordered
// by version.
func sqlMigrations() ([]migration, error) {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad migration name %q", name)
		}
		body, err := migrationFiles.ReadFile("migrations/" + name)
		if err != nil {
			return nil, err
		}
		m := migration{version: uint32(v), name: name, sql: string(body)}
		if m.minServer, err = parseMinServer(m.sql); err != nil {
			return nil, fmt.Errorf("migration %s: %w", name, err)
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// parseMinServer reads the optional min-server directive of a migration.
func parseMinServer(sql string) ([2]int, error) {
	sc := bufio.NewScanner(strings.NewReader(sql))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		rest, ok := strings.CutPrefix(line, minServerDirective)
		if !ok {
			continue
		}
		maj, min, ok := strings.Cut(strings.TrimSpace(rest), ".")
		a, err1 := strconv.Atoi(maj)
		b, err2 := strconv.Atoi(min)
		if !ok || err1 != nil || err2 != nil {
			return [2]int{}, fmt.Errorf("bad directive %q: want %sMAJOR.MINOR", line, minServerDirective)
		}
		return [2]int{a, b}, nil
	}
	return [2]int{}, nil
}

// serverAtLeast reports whether server version (major, minor) is at least min.
func serverAtLeast(major, minor int, min [2]int) bool {
	return major > min[0] || major == min[0] && minor >= min[1]
}

// Migrate applies the migrations not yet applied, in version order, and
// records each in schema_migrations once it succeeded. Migrations are
// forward-only and idempotent (CREATE ... IF NOT EXISTS, backfills that
// only add duplicates of existing versions), so a crash between a step and
// its record, or two processes migrating at once, is safe. Steps that need
// a newer server than the one connected (a "-- pulse:min-server X.Y" line)
// are skipped without being recorded. In cluster mode (Open) every
// statement runs in its cluster form (cluster.go).
func (db *DB) Migrate(ctx context.Context) error {
	return db.migrateUpTo(ctx, math.MaxUint32)
}

// migrateUpTo is Migrate, applying the migrations up to version last only
// (tests use it to build a database as an older release left it).
func (db *DB) migrateUpTo(ctx context.Context, last uint32) error {
	if err := db.conn.Exec(ctx, schemaMigrationsSQL(db.cluster, db.database)); err != nil {
		return fmt.Errorf("clickhouse: migrate: %w", translate(err))
	}
	applied, err := db.appliedMigrations(ctx)
	if err != nil {
		return fmt.Errorf("clickhouse: migrate: %w", err)
	}
	all, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("clickhouse: migrate: %w", err)
	}
	major, minor, err := db.ServerVersion()
	if err != nil {
		return fmt.Errorf("clickhouse: migrate: %w", err)
	}
	for _, m := range all {
		if m.version > last || applied[m.version] || !serverAtLeast(major, minor, m.minServer) {
			continue
		}
		if m.run != nil {
			err = m.run(db, ctx)
		} else {
			err = db.execMigration(ctx, m.sql)
		}
		if err != nil {
			return fmt.Errorf("clickhouse: migrate %s: %w", m.name, err)
		}
		if err := db.recordMigration(ctx, m); err != nil {
			return fmt.Errorf("clickhouse: migrate %s: record: %w", m.name, err)
		}
	}
	return nil
}

// execMigration runs one migration statement, or its cluster form in
// cluster mode.
func (db *DB) execMigration(ctx context.Context, sql string) error {
	stmts := []string{sql}
	if db.cluster != "" {
		var err error
		if stmts, err = clusterStatements(sql, db.cluster, db.database); err != nil {
			return err
		}
	}
	for _, st := range stmts {
		if err := db.conn.Exec(ctx, st); err != nil {
			return translate(err)
		}
	}
	return nil
}

func (db *DB) appliedMigrations(ctx context.Context) (map[uint32]bool, error) {
	applied := map[uint32]bool{}
	rows, err := db.conn.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, translate(err)
		}
		applied[v] = true
	}
	return applied, translate(rows.Err())
}

func (db *DB) recordMigration(ctx context.Context, m migration) error {
	batch, err := db.conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name)")
	if err != nil {
		return translate(err)
	}
	if err := batch.Append(m.version, m.name); err != nil {
		_ = batch.Abort()
		return err
	}
	return translate(batch.Send())
}

// AppliedMigrations returns the names of the migrations recorded as
// applied, in version order.
func (db *DB) AppliedMigrations(ctx context.Context) ([]string, error) {
	rows, err := db.conn.Query(ctx, "SELECT DISTINCT version, name FROM schema_migrations ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("clickhouse: applied migrations: %w", translate(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v uint32
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			return nil, fmt.Errorf("clickhouse: applied migrations: %w", translate(err))
		}
		out = append(out, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: applied migrations: %w", translate(err))
	}
	return out, nil
}
