package upkeep_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/platforms"
	_ "github.com/pulsehq/pulse/platforms/all"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
	"github.com/pulsehq/pulse/upkeep"
)

func TestMain(m *testing.M) {
	testkit.WrapTestMain(m)
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a user with X links backed by the simulator, and a Refresher
// whose clock the test sets.
type env struct {
	pg    *postgres.DB
	sim   *sim.Server
	conn  platforms.Connector
	down  atomic.Bool // the platform answers 503
	user  pulse.User
	now   atomic.Pointer[time.Time]
	logs  *syncBuffer
	start time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{pg: pgtest.MustOpen(t), logs: &syncBuffer{}, start: time.Now().UTC().Truncate(time.Second)}
	e.setNow(e.start)
	var err error
	// The simulator shares the test's clock, so the tokens it issues expire
	// on the Refresher's timeline.
	if e.sim, err = sim.New(sim.Config{Seed: 3, Clock: func() time.Time { return *e.now.Load() }}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.down.Load() {
			http.Error(w, `{"error":"server_error"}`, http.StatusServiceUnavailable)
			return
		}
		e.sim.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	base := sim.BaseURL(srv.URL, topics.X)
	e.conn, err = platforms.New(topics.X, platforms.Config{BaseURL: base, AuthBaseURL: base,
		ClientID: "pulse-test", ClientSecret: "secret", RedirectURL: "http://127.0.0.1/oauth/x/callback"})
	if err != nil {
		t.Fatal(err)
	}
	if e.user, err = e.pg.CreateUser(t.Context(), "ada@example.com", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) setNow(t time.Time) { e.now.Store(&t) }

func (e *env) refresher(t *testing.T, extra func(*upkeep.Config)) *upkeep.Worker {
	t.Helper()
	cfg := upkeep.Config{
		Links: e.pg, Connectors: map[topics.Platform]platforms.Connector{topics.X: e.conn},
		Janitor: e.pg,
		Clock:   func() time.Time { return *e.now.Load() },
		Logger:  slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if extra != nil {
		extra(&cfg)
	}
	r, err := upkeep.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// link links the simulator's account i with a token the simulator issued,
// and returns the link and the token.
func (e *env) link(t *testing.T, i int) (pulse.Link, *oauth2.Token) {
	t.Helper()
	acct := e.sim.Accounts(topics.X)[i]
	access, refresh, expiry, err := e.sim.IssueToken(topics.X, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	tok := &oauth2.Token{AccessToken: access, RefreshToken: refresh, TokenType: "bearer", Expiry: expiry}
	l, err := e.pg.UpsertLink(t.Context(), e.user.ID, topics.X, acct.ID, acct.Handle, tok, "tweet.read")
	if err != nil {
		t.Fatal(err)
	}
	return l, tok
}

func mustRunOnce(t *testing.T, r *upkeep.Worker, want upkeep.Stats) {
	t.Helper()
	got, err := r.RunOnce(t.Context())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	got.Expired = 0 // depends on the other rows of the database
	if got != want {
		t.Fatalf("RunOnce = %+v, want %+v", got, want)
	}
}

// assertNoSecrets fails if the logs contain any of the secrets.
func (e *env) assertNoSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	logs := e.logs.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Fatalf("logs contain a token:\n%s", logs)
		}
	}
}

func TestRenewsTokensBeforeTheyExpire(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l, old := e.link(t, 0)
	r := e.refresher(t, nil)

	// Not yet within RefreshBefore (10 minutes) of expiry: left alone.
	e.setNow(old.Expiry.Add(-11 * time.Minute))
	mustRunOnce(t, r, upkeep.Stats{})

	e.setNow(old.Expiry.Add(-9 * time.Minute))
	mustRunOnce(t, r, upkeep.Stats{Refreshed: 1})
	tok, got, err := e.pg.LinkToken(t.Context(), l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == old.AccessToken || tok.RefreshToken == old.RefreshToken || tok.RefreshToken == "" ||
		!got.ExpiresAt.After(old.Expiry.Add(-time.Second)) || got.Status != pulse.LinkActive {
		t.Fatalf("after refresh: link %+v; token changed: access %v refresh %v", got, tok.AccessToken != old.AccessToken, tok.RefreshToken != old.RefreshToken)
	}
	// The renewed token works; X rotated the refresh token, so the old one
	// is dead (which is why the new one is stored first).
	if _, err := e.conn.Fetch(t.Context(), tok, platforms.Request{}); err != nil {
		t.Fatalf("fetch with the renewed token: %v", err)
	}
	if _, err := e.conn.Refresh(t.Context(), old); platforms.ClassOf(err) != platforms.Reauth {
		t.Fatalf("refresh with the old refresh token: %v, want Reauth", err)
	}
	// The renewed token is not due again. (The connector computes the new
	// expiry from the real clock, so go back to it.)
	e.setNow(time.Now().UTC())
	mustRunOnce(t, r, upkeep.Stats{})
	e.assertNoSecrets(t, old.AccessToken, old.RefreshToken, tok.AccessToken, tok.RefreshToken)
	if !strings.Contains(e.logs.String(), "token renewed") {
		t.Fatalf("no renewal logged:\n%s", e.logs)
	}
}

func TestRevokedTokenMarksNeedsReauthAndStopsFetching(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l, tok := e.link(t, 0)
	other, _ := e.link(t, 1)
	r := e.refresher(t, nil)

	// The user removes the app on X: both tokens die.
	if !e.sim.Revoke(tok.AccessToken) {
		t.Fatal("sim did not know the token")
	}
	e.setNow(tok.Expiry.Add(-5 * time.Minute))
	mustRunOnce(t, r, upkeep.Stats{Refreshed: 1, NeedsReauth: 1})

	got, err := e.pg.LinkByID(t.Context(), l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != pulse.LinkNeedsReauth || !strings.Contains(got.StatusReason, "token refresh rejected") ||
		time.Since(got.StatusAt) > time.Minute {
		t.Fatalf("revoked link = %+v", got)
	}
	if got, _ := e.pg.LinkByID(t.Context(), other.ID); got.Status != pulse.LinkActive {
		t.Fatalf("the other link = %+v, want active", got)
	}
	// The scheduler no longer claims it, and the refresher leaves it.
	due, err := e.pg.ClaimDue(t.Context(), topics.X, time.Now().Add(time.Hour), 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range due {
		for _, dl := range d.Links {
			if dl.LinkID == l.ID {
				t.Fatal("scheduler claimed a needs_reauth link")
			}
		}
	}
	// An hour on, the other link is due again; the revoked one is not
	// touched (it is not active).
	e.setNow(tok.Expiry.Add(time.Hour))
	mustRunOnce(t, r, upkeep.Stats{Refreshed: 1})
	if got, _ := e.pg.LinkByID(t.Context(), l.ID); got.Status != pulse.LinkNeedsReauth {
		t.Fatalf("revoked link = %+v", got)
	}
	e.assertNoSecrets(t, tok.AccessToken, tok.RefreshToken)

	// Relinking makes it active again, and it is renewed as usual.
	acct := e.sim.Accounts(topics.X)[0]
	access, refresh, expiry, err := e.sim.IssueToken(topics.X, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pg.UpsertLink(t.Context(), e.user.ID, topics.X, acct.ID, acct.Handle,
		&oauth2.Token{AccessToken: access, RefreshToken: refresh, Expiry: expiry}, ""); err != nil {
		t.Fatal(err)
	}
	e.setNow(expiry.Add(-time.Minute))
	if st, err := r.RunOnce(t.Context()); err != nil || st.Refreshed == 0 || st.NeedsReauth != 0 {
		t.Fatalf("RunOnce after relink = %+v, %v", st, err)
	}
	relinked, _, err := e.pg.LinkToken(t.Context(), l.ID)
	if err != nil || relinked.AccessToken == access {
		t.Fatalf("relinked link not renewed: %v", err)
	}
}

func TestTransientFailureIsRetriedAfterTheLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l, tok := e.link(t, 0)
	r := e.refresher(t, func(c *upkeep.Config) { c.Lease = 2 * time.Minute })

	e.down.Store(true)
	now := tok.Expiry.Add(-9 * time.Minute)
	e.setNow(now)
	mustRunOnce(t, r, upkeep.Stats{Failed: 1})
	if got, _ := e.pg.LinkByID(t.Context(), l.ID); got.Status != pulse.LinkActive {
		t.Fatalf("link after an outage = %+v, want active", got)
	}
	// Within the lease nothing is retried, even once the platform is back.
	e.down.Store(false)
	e.setNow(now.Add(time.Minute))
	mustRunOnce(t, r, upkeep.Stats{})
	e.setNow(now.Add(2 * time.Minute))
	mustRunOnce(t, r, upkeep.Stats{Refreshed: 1})
	if strings.Count(e.logs.String(), "will retry") != 1 {
		t.Fatalf("want one retry logged:\n%s", e.logs)
	}
}

func TestLeavesOtherLinksAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, tok := e.link(t, 0)
	ctx := t.Context()
	// No expiry, far expiry, needs_reauth, a platform without connector.
	for i, lt := range []*oauth2.Token{
		{AccessToken: "a1", RefreshToken: "r1"},
		{AccessToken: "a2", RefreshToken: "r2", Expiry: tok.Expiry.Add(24 * time.Hour)},
	} {
		if _, err := e.pg.UpsertLink(ctx, e.user.ID, topics.X, "other"+string(rune('0'+i)), "", lt, ""); err != nil {
			t.Fatal(err)
		}
	}
	bad, err := e.pg.UpsertLink(ctx, e.user.ID, topics.X, "bad", "", &oauth2.Token{AccessToken: "a3", Expiry: tok.Expiry}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.pg.MarkLinkStatus(ctx, bad.ID, pulse.LinkNeedsReauth, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pg.UpsertLink(ctx, e.user.ID, topics.LinkedIn, "li", "", &oauth2.Token{AccessToken: "a4", Expiry: tok.Expiry}, ""); err != nil {
		t.Fatal(err)
	}
	r := e.refresher(t, nil)
	e.setNow(tok.Expiry.Add(-time.Minute))
	mustRunOnce(t, r, upkeep.Stats{Refreshed: 1, Skipped: 1})
	if !strings.Contains(e.logs.String(), "no connector") {
		t.Fatalf("the link without connector was not reported:\n%s", e.logs)
	}
}

// failingPurger fails while down is set, else delegates.
type failingPurger struct {
	down  atomic.Bool
	next  pulse.AnalyticsPurger
	calls atomic.Int32
}

func (p *failingPurger) Purge(ctx context.Context, req pulse.PurgeRequest) error {
	p.calls.Add(1)
	if p.down.Load() {
		return errors.New("clickhouse: connection refused")
	}
	return p.next.Purge(ctx, req)
}

func TestRetriesPendingPurgesUntilAnalyticsAreGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ch := chtest.MustOpen(t)
	ctx := t.Context()
	hour := e.start.Truncate(time.Hour)
	snaps := []topics.AccountSnapshot{
		{LinkID: "l1", UserID: e.user.ID, Platform: topics.X, AccountID: "1", Handle: "@a", Hour: hour, ObservedAt: hour, Followers: 10, Version: 1},
		{LinkID: "l2", UserID: "someone-else", Platform: topics.X, AccountID: "2", Handle: "@b", Hour: hour, ObservedAt: hour, Followers: 20, Version: 1},
	}
	if err := ch.InsertSnapshots(ctx, snaps); err != nil {
		t.Fatal(err)
	}
	series := func(user string) int {
		pts, err := ch.Series(ctx, pulse.SeriesQuery{UserID: user, Grain: pulse.GrainHour, From: hour, To: hour.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return len(pts)
	}
	if series(e.user.ID) != 1 {
		t.Fatal("snapshot not stored")
	}

	// The API deleted the user but its purge failed (it never reported).
	if _, err := e.pg.DeleteUser(ctx, e.user.ID); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now().UTC()
	e.setNow(deleted)
	purger := &failingPurger{next: ch}
	purger.down.Store(true)
	r := e.refresher(t, func(c *upkeep.Config) { c.Purges, c.Purger = e.pg, purger })

	// The deleting caller holds the request for a minute.
	mustRunOnce(t, r, upkeep.Stats{})
	e.setNow(deleted.Add(postgres.PurgeClaimLease))
	mustRunOnce(t, r, upkeep.Stats{PurgeFailed: 1})
	e.setNow(deleted.Add(postgres.PurgeClaimLease + 30*time.Second))
	mustRunOnce(t, r, upkeep.Stats{}) // within the lease
	purger.down.Store(false)
	e.setNow(deleted.Add(3 * postgres.PurgeClaimLease))
	mustRunOnce(t, r, upkeep.Stats{Purged: 1})

	// ALTER TABLE ... DELETE is a mutation ClickHouse may apply later.
	testkit.Eventually(t, 30*time.Second, func() error {
		if n := series(e.user.ID); n != 0 {
			return fmt.Errorf("the deleted user's analytics are still there: %d points", n)
		}
		return nil
	})
	if series("someone-else") != 1 {
		t.Fatal("another user's analytics were purged")
	}
	// The second pass, an hour later, and then nothing is left to do.
	// (PurgeDone's clock is PostgreSQL's: the real one.)
	e.setNow(time.Now().UTC().Add(postgres.PurgeRepeatDelay))
	mustRunOnce(t, r, upkeep.Stats{Purged: 1})
	e.setNow(deleted.Add(48 * time.Hour))
	mustRunOnce(t, r, upkeep.Stats{})
	if n := purger.calls.Load(); n != 3 {
		t.Fatalf("purger called %d times, want 3", n)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, tok := e.link(t, 0)
	e.setNow(tok.Expiry.Add(-time.Minute))
	r := e.refresher(t, func(c *upkeep.Config) { c.Interval = 10 * time.Millisecond; c.RefreshBefore = time.Hour })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	testkit.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(e.logs.String(), "token renewed") {
			return fmt.Errorf("Run renewed nothing:\n%s", e.logs)
		}
		return nil
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestNewValidates(t *testing.T) {
	pg := pgtest.MustOpen(t)
	conns := map[topics.Platform]platforms.Connector{}
	for _, cfg := range []upkeep.Config{
		{Connectors: conns},
		{Links: pg},
		{Links: pg, Connectors: conns, Purges: pg},
		{Links: pg, Connectors: conns, Interval: time.Hour},
	} {
		if _, err := upkeep.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	if _, err := upkeep.New(upkeep.Config{Links: pg, Connectors: conns}); err != nil {
		t.Fatal(err)
	}
}
