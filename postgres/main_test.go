package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) {
	testkit.WrapTestMain(m)
}

// testPassword satisfies the password policy.
const testPassword = "correct horse battery staple"

func mustCreateUser(t *testing.T, db *DB, email string) pulse.User {
	t.Helper()
	u, err := db.CreateUser(t.Context(), email, testPassword)
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", email, err)
	}
	return u
}

// testToken returns a token whose secrets are unique to name.
func testToken(name string) *oauth2.Token {
	return &oauth2.Token{
		AccessToken:  "access-" + name + "-SECRETVALUE",
		RefreshToken: "refresh-" + name + "-SECRETVALUE",
		TokenType:    "Bearer",
		Expiry:       time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func mustUpsertLink(t *testing.T, db *DB, userID string, platform topics.Platform, accountID string) pulse.Link {
	t.Helper()
	l, err := db.UpsertLink(t.Context(), userID, platform, accountID, "@"+accountID,
		testToken(userID+accountID), "read write")
	if err != nil {
		t.Fatalf("UpsertLink: %v", err)
	}
	return l
}

// wantCode fails the test unless err carries the given code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := pulse.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (err: %v), want %q", got, err, code)
	}
}

// fakeClock is a settable clock for DB.now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// queryString returns the single text value of a query, for inspecting raw
// rows.
func queryString(t *testing.T, db *DB, sql string, args ...any) string {
	t.Helper()
	var s *string
	err := db.withConn(context.Background(), func(c *pgx.Conn) error {
		return c.QueryRow(context.Background(), sql, args...).Scan(&s)
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if s == nil {
		return "<NULL>"
	}
	return *s
}

// queryInt returns the single integer value of a query.
func queryInt(t *testing.T, db *DB, sql string, args ...any) int {
	t.Helper()
	var n int
	err := db.withConn(context.Background(), func(c *pgx.Conn) error {
		return c.QueryRow(context.Background(), sql, args...).Scan(&n)
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func exec(t *testing.T, db *DB, sql string, args ...any) {
	t.Helper()
	err := db.withConn(context.Background(), func(c *pgx.Conn) error {
		_, err := c.Exec(context.Background(), sql, args...)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
