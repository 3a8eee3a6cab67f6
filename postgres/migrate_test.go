package postgres

import (
	"context"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/pulsehq/pulse"
)

func TestMigrateFromEmptyConcurrentlyAndIdempotent(t *testing.T) {
	t.Parallel()
	db := mustOpenTestUnmigrated(t)
	// A second handle, with its own connections, migrating at the same time.
	db2, err := openConfig(t.Context(), "test", db.pool.Config())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db2.Close)

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, h := range []*DB{db, db2} {
		wg.Go(func() { errs[i] = h.Migrate(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate %d: %v", i, err)
		}
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM schema_migrations"); n != len(ms) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(ms))
	}
	for _, table := range []string{"users", "sessions", "data_keys", "links", "login_attempts", "oauth_states", "purge_requests"} {
		if n := queryInt(t, db, "SELECT count(*) FROM information_schema.tables WHERE table_name = $1", table); n != 1 {
			t.Fatalf("table %s missing", table)
		}
	}

	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("re-run Migrate: %v", err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM schema_migrations"); n != len(ms) {
		t.Fatalf("after re-run schema_migrations has %d rows, want %d", n, len(ms))
	}
}

func TestMigrateDetectsEditedMigration(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	exec(t, db, "UPDATE schema_migrations SET checksum = '\\x00' WHERE version = 1")
	err := db.Migrate(t.Context())
	wantCode(t, err, pulse.EINTERNAL)
}

func TestMigrateCanceled(t *testing.T) {
	t.Parallel()
	db := mustOpenTestUnmigrated(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := db.Migrate(ctx); err == nil {
		t.Fatal("Migrate with a canceled context succeeded")
	}
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate after a canceled one: %v", err)
	}
}

func TestLoadMigrations(t *testing.T) {
	for name, tc := range map[string]struct {
		files   fstest.MapFS
		wantErr bool
		want    []int64
	}{
		"sorted by version": {
			files: fstest.MapFS{
				"m/0010_b.sql": {Data: []byte("SELECT 2")},
				"m/0002_a.sql": {Data: []byte("SELECT 1")},
				"m/README.md":  {Data: []byte("ignored")},
			},
			want: []int64{2, 10},
		},
		"duplicate version": {
			files: fstest.MapFS{
				"m/0001_a.sql":  {Data: []byte("SELECT 1")},
				"m/001_b.sql":   {Data: []byte("SELECT 2")},
				"m/0003_ok.sql": {Data: []byte("SELECT 3")},
			},
			wantErr: true,
		},
		"bad name": {
			files:   fstest.MapFS{"m/init.sql": {Data: []byte("SELECT 1")}},
			wantErr: true,
		},
		"zero version": {
			files:   fstest.MapFS{"m/0000_x.sql": {Data: []byte("SELECT 1")}},
			wantErr: true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			ms, err := loadMigrations(tc.files, "m")
			if (err != nil) != tc.wantErr {
				t.Fatalf("loadMigrations error = %v, wantErr %v", err, tc.wantErr)
			}
			for i, v := range tc.want {
				if ms[i].version != v {
					t.Fatalf("migration %d has version %d, want %d", i, ms[i].version, v)
				}
			}
		})
	}
	if _, err := migrations(); err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
}
