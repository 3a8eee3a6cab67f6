package postgres

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
)

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	clock := newFakeClock()
	db.now = clock.now
	u := mustCreateUser(t, db, "ada@example.com")

	token, err := db.CreateSession(t.Context(), u.ID, time.Hour)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(raw) != 32 {
		t.Fatalf("token %q is not 32 base64url bytes", token)
	}
	if stored := queryString(t, db, "SELECT s::text FROM sessions s"); strings.Contains(stored, token) {
		t.Fatal("sessions row contains the token")
	}

	got, err := db.SessionUser(t.Context(), token)
	if err != nil || got.ID != u.ID {
		t.Fatalf("SessionUser = %+v, %v", got, err)
	}

	// last_seen_at is written at most once a minute.
	clock.advance(30 * time.Second)
	if _, err := db.SessionUser(t.Context(), token); err != nil {
		t.Fatal(err)
	}
	lastSeen := func() string { return queryString(t, db, "SELECT last_seen_at::text FROM sessions") }
	before := lastSeen()
	clock.advance(31 * time.Second)
	if _, err := db.SessionUser(t.Context(), token); err != nil {
		t.Fatal(err)
	}
	if after := lastSeen(); after == before {
		t.Fatalf("last_seen_at not updated after a minute: %s", after)
	}

	// Expiry.
	clock.advance(time.Hour)
	_, err = db.SessionUser(t.Context(), token)
	wantCode(t, err, pulse.EUNAUTHORIZED)
	n, err := db.DeleteExpiredSessions(t.Context(), clock.now())
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want 1", n, err)
	}

	// Logout.
	token, err = db.CreateSession(t.Context(), u.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSession(t.Context(), token); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	_, err = db.SessionUser(t.Context(), token)
	wantCode(t, err, pulse.EUNAUTHORIZED)
	if err := db.DeleteSession(t.Context(), token); err != nil {
		t.Fatalf("DeleteSession twice: %v", err)
	}
}

func TestSessionErrors(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "ada@example.com")

	for _, tc := range []struct {
		name, userID string
		ttl          time.Duration
		code         string
	}{
		{"zero ttl", u.ID, 0, pulse.EINVALID},
		{"negative ttl", u.ID, -time.Second, pulse.EINVALID},
		{"unknown user", "00000000-0000-0000-0000-000000000001", time.Hour, pulse.ENOTFOUND},
		{"malformed user", "nope", time.Hour, pulse.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.CreateSession(t.Context(), tc.userID, tc.ttl)
			wantCode(t, err, tc.code)
		})
	}
	for _, token := range []string{"", "garbage", "!!!!", base64.RawURLEncoding.EncodeToString(make([]byte, 32))} {
		_, err := db.SessionUser(t.Context(), token)
		wantCode(t, err, pulse.EUNAUTHORIZED)
		if err := db.DeleteSession(t.Context(), token); err != nil {
			t.Fatalf("DeleteSession(%q): %v", token, err)
		}
	}
}
