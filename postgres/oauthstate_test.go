package postgres

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// mustSession signs the user in and returns the session.
func mustSession(t *testing.T, db *DB, userID string) (token string, s pulse.Session) {
	t.Helper()
	token, err := db.CreateSession(t.Context(), userID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s, err = db.Session(t.Context(), token)
	if err != nil {
		t.Fatalf("pulse.Session: %v", err)
	}
	return token, s
}

func TestOAuthStateRoundTripIsSingleUse(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	clock := newFakeClock()
	db.now = clock.now
	u := mustCreateUser(t, db, "ada@example.com")
	_, s := mustSession(t, db, u.ID)
	if s.User != u || len(s.ID) != 64 || !s.ExpiresAt.Equal(clock.now().Add(time.Hour)) {
		t.Fatalf("pulse.Session = %+v", s)
	}
	const verifier = "verifier-SECRETVALUE-0123456789abcdefghijklmnopqrstuvwxyz"

	state, err := db.CreateOAuthState(t.Context(), s.ID, topics.X, verifier, 10*time.Minute)
	if err != nil {
		t.Fatalf("CreateOAuthState: %v", err)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(state); err != nil || len(raw) != 32 {
		t.Fatalf("state %q is not 32 base64url bytes", state)
	}
	// Neither the state nor the verifier is readable from the row.
	row := queryString(t, db, "SELECT o::text FROM oauth_states o")
	esc := queryString(t, db, "SELECT encode(verifier_enc, 'escape') FROM oauth_states")
	for _, secret := range []string{state, verifier} {
		if strings.Contains(row, secret) || strings.Contains(esc, secret) {
			t.Fatalf("oauth_states row contains a secret: %s", row)
		}
	}

	got, err := db.ConsumeOAuthState(t.Context(), state)
	if err != nil {
		t.Fatalf("ConsumeOAuthState: %v", err)
	}
	want := pulse.OAuthState{SessionID: s.ID, UserID: u.ID, Platform: topics.X, Verifier: verifier,
		CreatedAt: clock.now(), ExpiresAt: clock.now().Add(10 * time.Minute)}
	if got != want {
		t.Fatalf("ConsumeOAuthState = %+v, want %+v", got, want)
	}
	_, err = db.ConsumeOAuthState(t.Context(), state)
	wantCode(t, err, pulse.ENOTFOUND)

	// Without PKCE there is no verifier.
	state, err = db.CreateOAuthState(t.Context(), s.ID, topics.Facebook, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := db.ConsumeOAuthState(t.Context(), state); err != nil || got.Verifier != "" || got.Platform != topics.Facebook {
		t.Fatalf("ConsumeOAuthState without verifier = %+v, %v", got, err)
	}

	// An expired state is still returned once, for the caller to reject.
	state, err = db.CreateOAuthState(t.Context(), s.ID, topics.X, verifier, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clock.advance(2 * time.Minute)
	if got, err := db.ConsumeOAuthState(t.Context(), state); err != nil || got.ExpiresAt.After(clock.now()) {
		t.Fatalf("ConsumeOAuthState of an expired state = %+v, %v", got, err)
	}
}

func TestOAuthStateErrors(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "ada@example.com")
	token, s := mustSession(t, db, u.ID)

	for _, tc := range []struct {
		name, sessionID string
		platform        topics.Platform
		ttl             time.Duration
		code            string
	}{
		{"no platform", s.ID, "", time.Minute, pulse.EINVALID},
		{"zero ttl", s.ID, topics.X, 0, pulse.EINVALID},
		{"malformed session", "nope", topics.X, time.Minute, pulse.EUNAUTHORIZED},
		{"unknown session", strings.Repeat("ab", 32), topics.X, time.Minute, pulse.EUNAUTHORIZED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.CreateOAuthState(t.Context(), tc.sessionID, tc.platform, "v", tc.ttl)
			wantCode(t, err, tc.code)
		})
	}
	for _, state := range []string{"", "x", "!!!!", base64.RawURLEncoding.EncodeToString(make([]byte, 32))} {
		_, err := db.ConsumeOAuthState(t.Context(), state)
		wantCode(t, err, pulse.ENOTFOUND)
	}

	// Signing out ends the session's pending requests.
	state, err := db.CreateOAuthState(t.Context(), s.ID, topics.X, "v", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSession(t.Context(), token); err != nil {
		t.Fatal(err)
	}
	_, err = db.ConsumeOAuthState(t.Context(), state)
	wantCode(t, err, pulse.ENOTFOUND)
	_, err = db.CreateOAuthState(t.Context(), s.ID, topics.X, "v", time.Minute)
	wantCode(t, err, pulse.EUNAUTHORIZED)
}

func TestOAuthStatePendingLimitAndConcurrentConsume(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	clock := newFakeClock()
	db.now = clock.now
	u := mustCreateUser(t, db, "ada@example.com")
	_, s := mustSession(t, db, u.ID)
	var states []string
	for i := range maxPendingStates + 2 {
		st, err := db.CreateOAuthState(t.Context(), s.ID, topics.X, fmt.Sprint("verifier-", i), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, st)
		clock.advance(time.Second)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM oauth_states"); n != maxPendingStates {
		t.Fatalf("%d pending states, want %d", n, maxPendingStates)
	}
	for _, st := range states[:2] {
		_, err := db.ConsumeOAuthState(t.Context(), st)
		wantCode(t, err, pulse.ENOTFOUND)
	}

	last := states[len(states)-1]
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := db.ConsumeOAuthState(t.Context(), last); err == nil {
				wins.Add(1)
			} else if pulse.ErrorCode(err) != pulse.ENOTFOUND {
				t.Errorf("ConsumeOAuthState: %v", err)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d concurrent consumers got the state, want 1", n)
	}
}

func TestOAuthStateGoesWithUser(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "ada@example.com")
	_, s := mustSession(t, db, u.ID)
	state, err := db.CreateOAuthState(t.Context(), s.ID, topics.X, "v", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteUser(t.Context(), u.ID); err != nil {
		t.Fatal(err)
	}
	_, err = db.ConsumeOAuthState(t.Context(), state)
	wantCode(t, err, pulse.ENOTFOUND)
}
