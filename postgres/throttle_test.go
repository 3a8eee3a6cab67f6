package postgres

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
)

func mustAdmit(t *testing.T, db *DB, email, client string, lim pulse.LoginLimits) pulse.LoginAttempt {
	t.Helper()
	a, retry, err := db.AdmitLogin(t.Context(), email, client, lim)
	if err != nil || retry != 0 {
		t.Fatalf("AdmitLogin(%q, %q) = retry %v, %v; want admitted", email, client, retry, err)
	}
	return a
}

func wantRefused(t *testing.T, db *DB, email, client string, lim pulse.LoginLimits, wantRetry time.Duration) {
	t.Helper()
	_, retry, err := db.AdmitLogin(t.Context(), email, client, lim)
	if err != nil || retry != wantRetry {
		t.Fatalf("AdmitLogin(%q, %q) = retry %v, %v; want refused for %v", email, client, retry, err, wantRetry)
	}
}

func TestAdmitLoginSlidingWindowPerAccount(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	clock := newFakeClock()
	db.now = clock.now
	lim := pulse.LoginLimits{Window: 15 * time.Minute, PerAccount: 3, PerClient: 100}

	// Three failures a minute apart fill the window; the address's case
	// and surrounding space do not matter.
	for _, email := range []string{"ada@example.com", " ADA@example.com", "Ada@Example.com "} {
		mustAdmit(t, db, email, "192.0.2.1", lim)
		clock.advance(time.Minute)
	}
	// Refused until the oldest failure leaves the window (15m after it,
	// 12m from now), whether or not the account exists.
	wantRefused(t, db, "ada@example.com", "192.0.2.1", lim, 12*time.Minute)
	// Other addresses and other networks are unaffected.
	mustAdmit(t, db, "bob@example.com", "192.0.2.1", lim)
	mustAdmit(t, db, "ada@example.com", "198.51.100.7", lim)

	clock.advance(12 * time.Minute)
	a := mustAdmit(t, db, "ada@example.com", "192.0.2.1", lim)
	wantRefused(t, db, "ada@example.com", "192.0.2.1", lim, time.Minute)

	// A success forgets the address's failures from that network.
	if err := db.LoginSucceeded(t.Context(), a); err != nil {
		t.Fatalf("LoginSucceeded: %v", err)
	}
	for range 3 {
		mustAdmit(t, db, "ada@example.com", "192.0.2.1", lim)
	}
	wantRefused(t, db, "ada@example.com", "192.0.2.1", lim, lim.Window)
	if err := db.LoginSucceeded(t.Context(), pulse.LoginAttempt{}); err != nil {
		t.Fatalf("LoginSucceeded(zero): %v", err)
	}
}

func TestAdmitLoginPerClient(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	lim := pulse.LoginLimits{Window: time.Hour, PerAccount: 10, PerClient: 4}
	var last pulse.LoginAttempt
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"} {
		last = mustAdmit(t, db, email, "2001:db8::/64", lim)
	}
	_, retry, err := db.AdmitLogin(t.Context(), "e@example.com", "2001:db8::/64", lim)
	if err != nil || retry <= 0 || retry > time.Hour {
		t.Fatalf("fifth address from the network: retry %v, %v; want refused", retry, err)
	}
	mustAdmit(t, db, "e@example.com", "192.0.2.1", lim)
	// A success frees its own slot of the network's budget only.
	if err := db.LoginSucceeded(t.Context(), last); err != nil {
		t.Fatal(err)
	}
	mustAdmit(t, db, "e@example.com", "2001:db8::/64", lim)
	_, retry, _ = db.AdmitLogin(t.Context(), "f@example.com", "2001:db8::/64", lim)
	if retry <= 0 {
		t.Fatal("network budget not restored to its limit")
	}
	// The table holds digests, not addresses or networks.
	if n := queryInt(t, db, `SELECT count(*) FROM login_attempts
		WHERE position('example'::bytea IN key) > 0 OR position('2001'::bytea IN key) > 0`); n != 0 {
		t.Fatalf("%d login_attempts rows contain an address or network", n)
	}
}

func TestAdmitLoginConcurrentAttemptsCannotExceedLimit(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	lim := pulse.LoginLimits{Window: time.Hour, PerAccount: 5, PerClient: 100}
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, retry, err := db.AdmitLogin(t.Context(), "ada@example.com", "192.0.2.1", lim)
			if err != nil {
				t.Errorf("AdmitLogin: %v", err)
			}
			if retry == 0 {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 5 {
		t.Fatalf("%d of 20 concurrent attempts admitted, want exactly 5", n)
	}
}

func TestAdmitLoginInvalidLimits(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	for _, lim := range []pulse.LoginLimits{{}, {Window: time.Minute, PerAccount: 0, PerClient: 1}, {Window: -1, PerAccount: 1, PerClient: 1}} {
		_, _, err := db.AdmitLogin(t.Context(), "a@example.com", "x", lim)
		wantCode(t, err, pulse.EINVALID)
	}
}

func TestDeleteExpired(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	clock := newFakeClock()
	db.now = clock.now
	u := mustCreateUser(t, db, "ada@example.com")
	short, err := db.CreateSession(t.Context(), u.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	long, err := db.CreateSession(t.Context(), u.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s, err := db.Session(t.Context(), long)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateOAuthState(t.Context(), s.ID, "x", "v", time.Minute); err != nil {
		t.Fatal(err)
	}
	mustAdmit(t, db, "ada@example.com", "192.0.2.1", pulse.LoginLimits{Window: time.Minute, PerAccount: 5, PerClient: 5})

	if n, err := db.DeleteExpired(t.Context(), clock.now()); err != nil || n != 0 {
		t.Fatalf("DeleteExpired before expiry = %d, %v; want 0", n, err)
	}
	clock.advance(time.Minute)
	// The short session, the state and both attempt rows.
	if n, err := db.DeleteExpired(t.Context(), clock.now()); err != nil || n != 4 {
		t.Fatalf("DeleteExpired = %d, %v; want 4", n, err)
	}
	if _, err := db.SessionUser(t.Context(), long); err != nil {
		t.Fatalf("live session deleted: %v", err)
	}
	_, err = db.SessionUser(t.Context(), short)
	wantCode(t, err, pulse.EUNAUTHORIZED)
}
