package scheduler_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/topics"
)

// capture is an Emitter that keeps copies of what it is given (the
// scheduler reuses the requests).
type capture struct {
	mu   sync.Mutex
	reqs []*topics.FetchRequest
}

func (c *capture) Emit(ctx context.Context, reqs []*topics.FetchRequest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range reqs {
		cp := *r
		cp.AlsoFor = slices.Clone(r.AlsoFor)
		c.reqs = append(c.reqs, &cp)
	}
	return nil
}

// take returns and forgets what was emitted.
func (c *capture) take() []*topics.FetchRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.reqs
	c.reqs = nil
	return out
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// env is a scheduler on a real PostgreSQL store with a capturing emitter.
type env struct {
	db    *postgres.DB
	s     *scheduler.Scheduler
	out   *capture
	clock *fakeClock
	users map[string]string // email → user id
}

func newEnv(t *testing.T, limits map[topics.Platform]scheduler.Limits) *env {
	t.Helper()
	e := &env{db: pgtest.MustOpen(t), out: &capture{}, users: map[string]string{},
		clock: &fakeClock{t: time.Now().UTC()}}
	var err error
	e.s, err = scheduler.New(scheduler.Config{Emitter: e.out, Store: e.db, Clock: e.clock.Now, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// link links platform account accountID for the user (created on first
// use) and returns the link.
func (e *env) link(t *testing.T, user string, p topics.Platform, accountID string) pulse.Link {
	t.Helper()
	ctx := t.Context()
	uid, ok := e.users[user]
	if !ok {
		u, err := e.db.CreateUser(ctx, user+"@example.com", "a long enough password")
		if err != nil {
			t.Fatal(err)
		}
		uid, e.users[user] = u.ID, u.ID
	}
	l, err := e.db.UpsertLink(ctx, uid, p, accountID, "h"+accountID, &oauth2.Token{AccessToken: "t"}, "")
	if err != nil {
		t.Fatal(err)
	}
	// Links are due from their creation, in real time: keep the clock
	// after it.
	if now := time.Now().UTC().Add(time.Second); e.clock.Now().Before(now) {
		e.clock.Advance(now.Sub(e.clock.Now()))
	}
	return l
}

// tick runs one pass and returns the requests emitted, by account.
func (e *env) tick(t *testing.T) map[string]*topics.FetchRequest {
	t.Helper()
	if err := e.s.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	out := map[string]*topics.FetchRequest{}
	for _, r := range e.out.take() {
		if out[r.AccountID] != nil {
			t.Fatalf("account %s emitted twice in one pass", r.AccountID)
		}
		out[r.AccountID] = r
	}
	return out
}

func accounts(reqs map[string]*topics.FetchRequest) []string {
	var out []string
	for a := range reqs {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// anHourOn is how far a test moves the clock to find every account due
// again: the hourly interval plus more than any platform's spacing (X 12 s).
// An account is scheduled at its slot in the hour, never within its spacing
// of the last fetch, so an account whose slot falls just after a fetch
// comes due a little more than an hour later; a bare hour made these tests
// fail for about one clock reading in a hundred.
const anHourOn = time.Hour + time.Minute

func xOnly() map[topics.Platform]scheduler.Limits {
	return map[topics.Platform]scheduler.Limits{topics.X: scheduler.DefaultLimits()[topics.X]}
}

func TestPerUserThrottlePausesThatAccountOnly(t *testing.T) {
	e := newEnv(t, xOnly())
	for i := range 3 {
		e.link(t, "ann", topics.X, fmt.Sprint(100+i))
	}
	if got := accounts(e.tick(t)); !slices.Equal(got, []string{"100", "101", "102"}) {
		t.Fatalf("first pass emitted %v", got)
	}
	// X answers 429 on account 100's per-user limit, reset in two hours.
	now := e.clock.Now()
	reset := now.Add(2 * time.Hour)
	if err := e.s.Apply(t.Context(), &topics.FetchOutcome{Platform: topics.X, AccountID: "100", Outcome: topics.OutcomeThrottled,
		LimitScope: topics.LimitScopeAccount, RetryAfter: reset}); err != nil {
		t.Fatal(err)
	}
	app, acct := e.s.Planner().PausedUntil(topics.X, "100")
	if !app.IsZero() || !acct.Equal(reset) {
		t.Fatalf("paused: app until %v, account until %v; want only the account, until %v", app, acct, reset)
	}
	// The other accounts keep their hourly fetches; 100 waits for its reset.
	for h := 1; h <= 2; h++ {
		e.clock.Advance(anHourOn)
		got := accounts(e.tick(t))
		if h == 1 && !slices.Equal(got, []string{"101", "102"}) {
			t.Fatalf("an hour on, emitted %v; want 101 and 102 only", got)
		}
		if h == 2 && !slices.Equal(got, []string{"100", "101", "102"}) {
			t.Fatalf("after the reset, emitted %v; want all three", got)
		}
	}
}

func TestAppThrottlePausesThePlatform(t *testing.T) {
	limits := map[topics.Platform]scheduler.Limits{topics.Facebook: scheduler.DefaultLimits()[topics.Facebook]}
	e := newEnv(t, limits)
	e.link(t, "ann", topics.Facebook, "1")
	e.link(t, "bob", topics.Facebook, "2")
	if got := e.tick(t); len(got) != 2 {
		t.Fatalf("emitted %v", accounts(got))
	}
	// Meta's error code 4: the app's limit.
	if err := e.s.Apply(t.Context(), &topics.FetchOutcome{Platform: topics.Facebook, AccountID: "1", Outcome: topics.OutcomeThrottled,
		LimitScope: topics.LimitScopeApp, RetryAfter: e.clock.Now().Add(90 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	if got := e.tick(t); len(got) != 0 {
		t.Fatalf("emitted %v while the app is throttled", accounts(got))
	}
	e.clock.Advance(time.Hour)
	if got := e.tick(t); len(got) != 2 {
		t.Fatalf("after the reset emitted %v", accounts(got))
	}
}

func TestSharedAccountIsFetchedOncePerDueTime(t *testing.T) {
	e := newEnv(t, xOnly())
	a := e.link(t, "ann", topics.X, "42")
	b := e.link(t, "bob", topics.X, "42")
	e.link(t, "bob", topics.X, "43")
	for pass := range 3 {
		got := e.tick(t)
		if len(got) != 2 || got["42"] == nil || got["43"] == nil {
			t.Fatalf("pass %d emitted %v; want 42 and 43 once each", pass, accounts(got))
		}
		r := got["42"]
		links := []string{r.LinkID}
		for _, o := range r.AlsoFor {
			links = append(links, o.LinkID)
		}
		slices.Sort(links)
		want := []string{a.ID, b.ID}
		slices.Sort(want)
		if !slices.Equal(links, want) {
			t.Fatalf("pass %d: the shared fetch goes to %v, want both links %v", pass, links, want)
		}
		// Both links are next due together.
		la, _ := e.db.LinkByID(t.Context(), a.ID)
		lb, _ := e.db.LinkByID(t.Context(), b.ID)
		if !la.NextFetchAt.Equal(lb.NextFetchAt) {
			t.Fatalf("next fetches differ: %v and %v", la.NextFetchAt, lb.NextFetchAt)
		}
		e.clock.Advance(anHourOn)
	}
	// A refresh press by one user is one fetch, for both.
	if n, err := e.db.RequestRefresh(t.Context(), e.users["bob"], b.ID); err != nil || n != 1 {
		t.Fatalf("RequestRefresh = %d, %v", n, err)
	}
	got := e.tick(t)
	if r := got["42"]; r == nil || r.Reason != topics.ReasonOnDemand || len(r.AlsoFor) != 1 {
		t.Fatalf("after a refresh press emitted %+v", got)
	}
}

func TestRefreshDebounceHoldsAcrossAClaim(t *testing.T) {
	e := newEnv(t, xOnly())
	l := e.link(t, "ann", topics.X, "7")
	if got := e.tick(t); len(got) != 1 {
		t.Fatalf("initial pass emitted %v", accounts(got))
	}
	uid := e.users["ann"]
	e.clock.Advance(time.Minute) // past X's spacing
	if n, err := e.db.RequestRefresh(t.Context(), uid, l.ID); err != nil || n != 1 {
		t.Fatalf("RequestRefresh = %d, %v", n, err)
	}
	if got := e.tick(t); got["7"] == nil || got["7"].Reason != topics.ReasonOnDemand {
		t.Fatalf("the refresh was not emitted: %v", accounts(got))
	}
	// The scheduler claimed and served the request; pressing again within
	// the minute is still debounced.
	for range 3 {
		if n, err := e.db.RequestRefresh(t.Context(), uid, l.ID); err != nil || n != 0 {
			t.Fatalf("a press right after a served one queued %d (%v), want 0", n, err)
		}
	}
	got, err := e.db.LinkByID(t.Context(), l.ID)
	if err != nil || got.RefreshRequested {
		t.Fatalf("link %+v (%v): want no pending refresh", got, err)
	}
	if got := e.tick(t); len(got) != 0 {
		t.Fatalf("emitted %v after debounced presses", accounts(got))
	}
}

func TestDeferredAccountsSpendNoTokens(t *testing.T) {
	limits := map[topics.Platform]scheduler.Limits{topics.Facebook: {Scopes: []scheduler.Scope{
		{Name: "app", Per: scheduler.PerApp, Limit: 100, Window: time.Hour, Cost: 1},
		{Name: "pages", Per: scheduler.PerAccount, Limit: 4, Window: time.Hour, Cost: 1}, // spacing: 20 minutes
	}}}
	e := newEnv(t, limits)
	l := e.link(t, "ann", topics.Facebook, "9")
	if got := e.tick(t); len(got) != 1 {
		t.Fatalf("emitted %v", accounts(got))
	}
	spent := func() float64 {
		st, _ := e.s.Planner().Stats(e.clock.Now())
		for _, s := range st {
			if s.Scope == "app" {
				return s.Spent
			}
		}
		t.Fatal("no app scope in stats")
		return 0
	}
	before := spent()
	e.clock.Advance(time.Minute)
	if n, err := e.db.RequestRefresh(t.Context(), e.users["ann"], l.ID); err != nil || n != 1 {
		t.Fatalf("RequestRefresh = %d, %v", n, err)
	}
	for range 3 {
		if got := e.tick(t); len(got) != 0 {
			t.Fatalf("a refresh a minute after a fetch was emitted: %v", accounts(got))
		}
	}
	if after := spent(); after != before {
		t.Fatalf("deferring spent %v calls from the app's budget", after-before)
	}
	if _, plats := e.s.Planner().Stats(e.clock.Now()); plats[topics.Facebook].Deferred != 1 {
		t.Fatalf("deferred %d times, want once (then it waits in the store)", plats[topics.Facebook].Deferred)
	}
	got, _ := e.db.LinkByID(t.Context(), l.ID)
	if !got.RefreshRequested || got.NextFetchAt.Before(e.clock.Now().Add(18*time.Minute)) {
		t.Fatalf("deferred link %+v: want its refresh pending, due at the spacing's end", got)
	}
	e.clock.Advance(20 * time.Minute)
	if got := e.tick(t); got["9"] == nil || got["9"].Reason != topics.ReasonOnDemand {
		t.Fatalf("at the spacing's end emitted %v", accounts(got))
	}
	if after := spent(); after != before+1 {
		t.Fatalf("spent %v, want one fetch", after-before)
	}
}

func TestNeedsReauthLinksAreSkipped(t *testing.T) {
	e := newEnv(t, xOnly())
	ctx := t.Context()
	bad := e.link(t, "ann", topics.X, "1")
	e.link(t, "ann", topics.X, "2")
	sharedBad := e.link(t, "ann", topics.X, "3")
	sharedOK := e.link(t, "bob", topics.X, "3")
	for _, l := range []pulse.Link{bad, sharedBad} {
		if err := e.db.MarkLinkStatus(ctx, l.ID, pulse.LinkNeedsReauth, "token revoked"); err != nil {
			t.Fatal(err)
		}
	}
	got := e.tick(t)
	if !slices.Equal(accounts(got), []string{"2", "3"}) {
		t.Fatalf("emitted %v; want 2 and 3", accounts(got))
	}
	if r := got["3"]; r.LinkID != sharedOK.ID || len(r.AlsoFor) != 0 {
		t.Fatalf("account 3's fetch %+v: want only the active link %s", r, sharedOK.ID)
	}
}

// TestRefreshWakesTheScheduler: with a poll interval of an hour, a refresh
// press is still emitted, because PostgreSQL notifies the scheduler.
func TestRefreshWakesTheScheduler(t *testing.T) {
	db := pgtest.MustOpen(t)
	out := &capture{}
	// Limits that space one account's fetches by milliseconds only.
	limits := map[topics.Platform]scheduler.Limits{topics.X: {Scopes: []scheduler.Scope{
		{Name: "users/me", Per: scheduler.PerAccount, Limit: 1e6, Window: time.Hour, Cost: 1}}}}
	s, err := scheduler.New(scheduler.Config{Emitter: out, Store: db, Tick: time.Hour, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	// A new link wakes it too.
	u, err := db.CreateUser(t.Context(), "wake@example.com", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	link := func(account string) pulse.Link {
		l, err := db.UpsertLink(t.Context(), u.ID, topics.X, account, "h", &oauth2.Token{AccessToken: "t"}, "")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	waitFor := func(what string, ok func([]*topics.FetchRequest) bool) {
		t.Helper()
		var seen []*topics.FetchRequest
		testkit.Eventually(t, 30*time.Second, func() error {
			seen = append(seen, out.take()...)
			if ok(seen) {
				return nil
			}
			return fmt.Errorf("%s: not emitted with an hourly poll (emitted %d)", what, len(seen))
		})
	}
	l := link("500")
	waitFor("a new link", func(rs []*topics.FetchRequest) bool { return len(rs) == 1 && rs[0].LinkID == l.ID })
	if n, err := db.RequestRefresh(t.Context(), u.ID, l.ID); err != nil || n != 1 {
		t.Fatalf("RequestRefresh = %d, %v", n, err)
	}
	waitFor("a refresh", func(rs []*topics.FetchRequest) bool {
		return len(rs) == 1 && rs[0].LinkID == l.ID && rs[0].Reason == topics.ReasonOnDemand
	})
}

// TestRequestIDsAreRandomUUIDs: request ids are version 4 UUIDs, unique,
// though the scheduler formats them itself and reuses its requests.
func TestRequestIDsAreRandomUUIDs(t *testing.T) {
	m := scheduler.NewMemStore()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 200 {
		m.AddLink(topics.X, strconv.Itoa(i), "l"+strconv.Itoa(i), "u", now)
	}
	out := &capture{}
	s, err := scheduler.New(scheduler.Config{Emitter: out, Store: m, Clock: func() time.Time { return now }, Limits: xOnly(), MaxPerTick: 50})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 4 {
		if err := s.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
	}
	reqs := out.take()
	if len(reqs) != 200 {
		t.Fatalf("emitted %d requests, want 200", len(reqs))
	}
	for _, r := range reqs {
		u, err := uuid.Parse(r.ID)
		if err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 || u.String() != r.ID {
			t.Fatalf("request id %q: %v, version %v, variant %v", r.ID, err, u.Version(), u.Variant())
		}
		if seen[r.ID] || seen[r.AccountID] {
			t.Fatalf("id %s or account %s seen twice", r.ID, r.AccountID)
		}
		seen[r.ID], seen[r.AccountID] = true, true
	}
}

// TestDeferredRefreshIsEmittedWithoutAPoll: a refresh pressed just after a
// fetch is deferred to the end of the account's spacing; the scheduler
// wakes for it then instead of waiting for its poll (an hour here).
func TestDeferredRefreshIsEmittedWithoutAPoll(t *testing.T) {
	m := scheduler.NewMemStore()
	out := &capture{}
	// users/me at 360 an hour: one fetch every ~10 s.
	limits := map[topics.Platform]scheduler.Limits{topics.X: {Scopes: []scheduler.Scope{
		{Name: "users/me", Per: scheduler.PerAccount, Limit: 360, Window: time.Hour, Cost: 1}}}}
	s, err := scheduler.New(scheduler.Config{Emitter: out, Store: m, Tick: time.Hour, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	m.AddLink(topics.X, "7", "l7", "u", time.Now())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var seen []*topics.FetchRequest
	testkit.Eventually(t, 30*time.Second, func() error {
		if seen = append(seen, out.take()...); len(seen) == 1 {
			return nil
		}
		return fmt.Errorf("emitted %d, want the first fetch", len(seen))
	})
	if err := m.RequestRefresh(topics.X, "7", time.Now()); err != nil {
		t.Fatal(err)
	}
	s.Wake()
	testkit.Eventually(t, 40*time.Second, func() error {
		if seen = append(seen, out.take()...); len(seen) == 2 && seen[1].Reason == topics.ReasonOnDemand {
			return nil
		}
		return fmt.Errorf("emitted %d, want the refresh after the spacing", len(seen))
	})
	if _, plats := s.Planner().Stats(time.Now()); plats[topics.X].Deferred < 1 {
		t.Fatal("the refresh was not deferred: the test did not exercise the wake")
	}
}
