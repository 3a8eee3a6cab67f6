package postgres

import (
	"context"
	"encoding/hex"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse"
)

// testURLFor returns the test server's URL with database (and user, if not
// empty) replaced.
func testURLFor(t *testing.T, user, database string) string {
	t.Helper()
	s := testServerURL()
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		u.Path, u.RawPath = "/"+database, ""
		if user != "" {
			u.User = url.User(user)
		}
		return u.String()
	}
	quote := func(v string) string {
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
	}
	s += " dbname=" + quote(database)
	if user != "" {
		s += " user=" + quote(user)
	}
	return s
}

// adminExec runs sql on the test server's maintenance database.
func adminExec(t *testing.T, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, testServerURL())
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql)
	return err
}

func TestCreateDatabase(t *testing.T) {
	t.Parallel()
	// A name that needs quoting.
	name := `pulse_test_cd "Odd" ` + hex.EncodeToString(randomBytes(8))
	quoted := pgx.Identifier{name}.Sanitize()
	t.Cleanup(func() {
		if err := adminExec(t, "DROP DATABASE IF EXISTS "+quoted+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", quoted, err)
		}
	})
	u := testURLFor(t, "", name)

	// Concurrent creators all succeed.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = CreateDatabase(t.Context(), u) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent CreateDatabase %d: %v", i, err)
		}
	}
	// Existing database: no-op.
	if err := CreateDatabase(t.Context(), u); err != nil {
		t.Fatalf("CreateDatabase on an existing database: %v", err)
	}

	db, err := Open(t.Context(), u)
	if err != nil {
		t.Fatalf("Open the created database: %v", err)
	}
	defer db.Close()
	if got := queryString(t, db, "SELECT current_database()::text"); got != name {
		t.Fatalf("current_database() = %q, want %q", got, name)
	}
}

func TestCreateDatabaseExistingNeedsNoPrivilege(t *testing.T) {
	t.Parallel()
	suffix := hex.EncodeToString(randomBytes(8))
	role := "pulse_test_role_" + suffix
	name := "pulse_test_cd_" + suffix
	if err := adminExec(t, "CREATE ROLE "+role+" LOGIN NOCREATEDB"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, sql := range []string{
			"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)",
			"DROP ROLE IF EXISTS " + role,
		} {
			if err := adminExec(t, sql); err != nil {
				t.Errorf("%s: %v", sql, err)
			}
		}
	})
	if err := adminExec(t, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	// Can the role log in at all (the server might not trust it)?
	if c, err := pgx.Connect(t.Context(), testURLFor(t, role, name)); err != nil {
		t.Skipf("cannot log in as a new role: %v", err)
	} else {
		c.Close(t.Context())
	}
	if err := CreateDatabase(t.Context(), testURLFor(t, role, name)); err != nil {
		t.Fatalf("CreateDatabase of an existing database without CREATEDB: %v", err)
	}
	err := CreateDatabase(t.Context(), testURLFor(t, role, name+"_missing"))
	wantCode(t, err, pulse.EINTERNAL)
}

func TestCreateDatabaseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, url, code string
	}{
		{"malformed url", "postgres://%zz", pulse.EINVALID},
		{"unreachable server", "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=5", pulse.EINTERNAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, CreateDatabase(t.Context(), tc.url), tc.code)
		})
	}
}

func TestOpenMaxConns(t *testing.T) {
	t.Parallel()
	u := testURLFor(t, "", "postgres")
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	if !strings.HasPrefix(u, "postgres") {
		sep = " "
	}
	for _, tc := range []struct {
		name string
		url  string
		opts []Option
		want int32
	}{
		{"default", u, nil, int32(max(4, runtime.GOMAXPROCS(0)))},
		{"from url", u + sep + "pool_max_conns=3", nil, 3},
		{"option overrides url", u + sep + "pool_max_conns=3", []Option{WithMaxConns(5)}, 5},
		{"option", u, []Option{WithMaxConns(2)}, 2},
		{"invalid option ignored", u + sep + "pool_max_conns=3", []Option{WithMaxConns(0)}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(t.Context(), tc.url, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := db.pool.Config().MaxConns; got != tc.want {
				t.Fatalf("MaxConns = %d, want %d", got, tc.want)
			}
		})
	}
	_, err := Open(t.Context(), "postgres://%zz")
	wantCode(t, err, pulse.EINVALID)
}

func TestClosedDB(t *testing.T) {
	t.Parallel()
	db, err := Open(t.Context(), testURLFor(t, "", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db.Close() // idempotent
	_, err = db.LinkByID(t.Context(), "00000000-0000-0000-0000-000000000001")
	wantCode(t, err, pulse.EINTERNAL)
}
