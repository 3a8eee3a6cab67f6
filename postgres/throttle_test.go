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

// TestAdmitLoginBacksOffPerAccount: an account's failures, from any
// network, raise a delay that doubles per failure up to its cap; it holds
// up only the networks that have failed on the account, whatever the
// letter case of the address, and ends when the failures leave the window.
func TestAdmitLoginBacksOffPerAccount(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	clock := newFakeClock()
	db.now = clock.now
	lim := pulse.LoginLimits{Window: 15 * time.Minute, FreeFailures: 2, Backoff: time.Second, MaxBackoff: 8 * time.Second, PerClient: 100}
	const attacker, owner, elsewhere = "192.0.2.1", "198.51.100.7", "203.0.113.5"

	// Two free failures; after the third and each further, 1 s, 2 s, 4 s,
	// 8 s, 8 s.
	mustAdmit(t, db, "ada@example.com", attacker, lim)
	mustAdmit(t, db, " ADA@example.com", attacker, lim)
	mustAdmit(t, db, "ada@example.com", attacker, lim)
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		wantRefused(t, db, "Ada@Example.com ", attacker, lim, d)
		clock.advance(d - time.Millisecond)
		wantRefused(t, db, "ada@example.com", attacker, lim, time.Millisecond)
		clock.advance(time.Millisecond)
		mustAdmit(t, db, "ada@example.com", attacker, lim)
	}
	wantRefused(t, db, "ada@example.com", attacker, lim, 8*time.Second)

	// The owner's network has not failed on the account: admitted at once,
	// and a success there leaves the attacker's delay as it was.
	a := mustAdmit(t, db, "ada@example.com", owner, lim)
	if err := db.LoginSucceeded(t.Context(), a); err != nil {
		t.Fatalf("LoginSucceeded: %v", err)
	}
	mustAdmit(t, db, "ada@example.com", owner, lim) // still clean: the success forgot its failure
	wantRefused(t, db, "ada@example.com", attacker, lim, 8*time.Second)
	// Another account from the attacker's network is not delayed.
	mustAdmit(t, db, "bob@example.com", attacker, lim)
	// A clean network's failure makes it a failing one.
	mustAdmit(t, db, "ada@example.com", elsewhere, lim)
	wantRefused(t, db, "ada@example.com", elsewhere, lim, 8*time.Second)

	// A success from a failing network forgets that network's failures
	// (in the account's count too): it is no longer held up.
	clock.advance(8 * time.Second)
	a = mustAdmit(t, db, "ada@example.com", attacker, lim)
	if err := db.LoginSucceeded(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	mustAdmit(t, db, "ada@example.com", attacker, lim)
	// Left: a failure from the owner's network and one from the other,
	// plus the attacker's new one: three, a delay of 1 s, binding the
	// attacker again.
	wantRefused(t, db, "ada@example.com", attacker, lim, time.Second)

	// Once the failures leave the window, there is no delay.
	clock.advance(lim.Window)
	for range 2 {
		mustAdmit(t, db, "ada@example.com", attacker, lim)
	}
	if err := db.LoginSucceeded(t.Context(), pulse.LoginAttempt{}); err != nil {
		t.Fatalf("LoginSucceeded(zero): %v", err)
	}
}

// TestAdmitAttemptSlidingWindow: at most limit attempts per key in any
// window; other keys are apart.
func TestAdmitAttemptSlidingWindow(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	clock := newFakeClock()
	db.now = clock.now
	for range 3 {
		if retry, err := db.AdmitAttempt(t.Context(), "signup:192.0.2.1", 3, time.Hour); err != nil || retry != 0 {
			t.Fatalf("AdmitAttempt = %v, %v; want admitted", retry, err)
		}
		clock.advance(time.Minute)
	}
	if retry, err := db.AdmitAttempt(t.Context(), "signup:192.0.2.1", 3, time.Hour); err != nil || retry != 57*time.Minute {
		t.Fatalf("fourth AdmitAttempt = %v, %v; want refused for 57m", retry, err)
	}
	if retry, err := db.AdmitAttempt(t.Context(), "signup:198.51.100.7", 3, time.Hour); err != nil || retry != 0 {
		t.Fatalf("another key = %v, %v; want admitted", retry, err)
	}
	clock.advance(57 * time.Minute)
	if retry, err := db.AdmitAttempt(t.Context(), "signup:192.0.2.1", 3, time.Hour); err != nil || retry != 0 {
		t.Fatalf("after the oldest expired = %v, %v; want admitted", retry, err)
	}
	for _, c := range []struct {
		limit  int
		window time.Duration
	}{{0, time.Hour}, {1, 0}} {
		_, err := db.AdmitAttempt(t.Context(), "k", c.limit, c.window)
		wantCode(t, err, pulse.EINVALID)
	}
}

func TestAdmitLoginPerClient(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	lim := pulse.LoginLimits{Window: time.Hour, FreeFailures: 10, Backoff: time.Second, MaxBackoff: time.Second, PerClient: 4}
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
	lim := pulse.LoginLimits{Window: time.Hour, FreeFailures: 4, Backoff: time.Hour, MaxBackoff: time.Hour, PerClient: 100}
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
	for _, lim := range []pulse.LoginLimits{{}, {Window: time.Minute, Backoff: time.Second, MaxBackoff: time.Second, PerClient: 0}, {Window: -1, Backoff: time.Second, MaxBackoff: time.Second, PerClient: 1}} {
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
	mustAdmit(t, db, "ada@example.com", "192.0.2.1", pulse.LoginLimits{Window: time.Minute, FreeFailures: 5, Backoff: time.Second, MaxBackoff: time.Second, PerClient: 5})

	if n, err := db.DeleteExpired(t.Context(), clock.now()); err != nil || n != 0 {
		t.Fatalf("DeleteExpired before expiry = %d, %v; want 0", n, err)
	}
	clock.advance(time.Minute)
	// The short session, the state and the attempt's three rows.
	if n, err := db.DeleteExpired(t.Context(), clock.now()); err != nil || n != 5 {
		t.Fatalf("DeleteExpired = %d, %v; want 5", n, err)
	}
	if _, err := db.SessionUser(t.Context(), long); err != nil {
		t.Fatalf("live session deleted: %v", err)
	}
	_, err = db.SessionUser(t.Context(), short)
	wantCode(t, err, pulse.EUNAUTHORIZED)
}
