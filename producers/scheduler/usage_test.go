package scheduler_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/x"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

// connectorEmitter fetches each request at once with a real connector over
// HTTP (as the fetcher does, without Kafka) and applies its outcome, with
// the usage the platform reported unless dropUsage.
type connectorEmitter struct {
	conn      platforms.Connector
	tokens    map[string]*oauth2.Token // by account id
	sched     *scheduler.Scheduler
	dropUsage bool

	mu      sync.Mutex
	fetched map[string][]time.Time // successful fetches by account
	clock   func() time.Time
}

func (c *connectorEmitter) Emit(ctx context.Context, reqs []*topics.FetchRequest) error {
	for _, r := range reqs {
		o := &topics.FetchOutcome{RequestID: r.ID, LinkID: r.LinkID, UserID: r.UserID, Platform: r.Platform,
			AccountID: r.AccountID, Outcome: topics.OutcomeOK, Remaining: -1, At: c.clock()}
		res, err := c.conn.Fetch(ctx, c.tokens[r.AccountID], platforms.Request{AccountID: r.AccountID})
		if res != nil && !c.dropUsage {
			for _, u := range res.Usage {
				o.Usage = append(o.Usage, topics.LimitUsage{Scope: u.Scope, Name: u.Name, UsedPct: u.UsedPct,
					Remaining: u.Remaining, Limit: u.Limit, Reset: u.Reset})
			}
		}
		var pe *platforms.Error
		switch {
		case errors.As(err, &pe) && pe.Class == platforms.Throttled:
			o.Outcome, o.RetryAfter, o.LimitScope = topics.OutcomeThrottled, pe.RetryAfter, pe.Scope
		case err != nil:
			return err
		default:
			c.mu.Lock()
			c.fetched[r.AccountID] = append(c.fetched[r.AccountID], o.At)
			c.mu.Unlock()
		}
		if err := c.sched.Apply(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// TestUsageHeadersSlowBeforeA429: the scheduler's model of X's users/me
// limit is the published 75 calls per 15 minutes, the simulator's is 5.
// Refresh presses every 20 s on one account, fetched over HTTP by the
// real X connector: the x-rate-limit-remaining header reaching 0 pauses
// that account until x-rate-limit-reset, so the simulator refuses nothing,
// the account is fetched again after the reset and another account is
// fetched meanwhile. Without the usage (the control), the simulator
// refuses calls.
func TestUsageHeadersSlowBeforeA429(t *testing.T) {
	for _, control := range []bool{false, true} {
		clock := &fakeClock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
		srv, err := sim.New(sim.Config{Clock: clock.Now, Accounts: 2, X: sim.XConfig{UsersMe: sim.Limit{Requests: 5, Window: 15 * time.Minute}}})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv.Handler())
		base := sim.BaseURL(ts.URL, topics.X)
		conn, err := x.New(platforms.Config{BaseURL: base, AuthBaseURL: base, ClientID: "pulse-app",
			RedirectURL: "https://pulse.example/cb", HTTPClient: ts.Client(), MaxPostPages: 1})
		if err != nil {
			t.Fatal(err)
		}
		store := scheduler.NewMemStore()
		em := &connectorEmitter{conn: conn, tokens: map[string]*oauth2.Token{}, fetched: map[string][]time.Time{},
			clock: clock.Now, dropUsage: control}
		accts := srv.Accounts(topics.X)
		for i, a := range accts {
			access, _, _, err := srv.IssueToken(topics.X, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			em.tokens[a.ID] = &oauth2.Token{AccessToken: access}
			store.AddLink(topics.X, a.ID, "l"+a.ID, "u", clock.Now().Add(time.Duration(i)*5*time.Minute))
		}
		em.sched, err = scheduler.New(scheduler.Config{Emitter: em, Store: store, Clock: clock.Now, Limits: xOnly(),
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		pressed := accts[0].ID
		for tick := range 25 * 60 {
			if tick%20 == 0 {
				if err := store.RequestRefresh(topics.X, pressed, clock.Now()); err != nil {
					t.Fatal(err)
				}
			}
			if err := em.sched.RunOnce(t.Context()); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Second)
		}
		ts.Close()
		breaches := srv.Stats().Platforms[topics.X].LimitBreaches
		if control {
			if breaches == 0 {
				t.Error("control: without the usage headers the simulator refused nothing: the test cannot fail")
			}
			continue
		}
		if breaches != 0 {
			t.Errorf("the simulator refused %d calls", breaches)
		}
		got := em.fetched[pressed]
		start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		var first, after int
		for _, at := range got {
			switch {
			case at.Before(start.Add(15 * time.Minute)):
				first++
			default:
				after++
			}
		}
		if first != 5 || after == 0 {
			t.Errorf("the pressed account was fetched %d times in the first window (want the simulator's 5) and %d after its reset (want some): %v", first, after, got)
		}
		if len(em.fetched[accts[1].ID]) == 0 {
			t.Error("the other account was not fetched")
		}
		if _, plats := em.sched.Planner().Stats(clock.Now()); plats[topics.X].Slowed == 0 {
			t.Error("no pause counted")
		}
	}
}

// TestUsageReportsPauseTheScopeTheyName: Meta's usage percentages pause
// the scope they name once past what the model plans for (98 %): the
// app's share pauses every Page of the platform, a Page's share that Page
// only, until the reported reset or until the share should be back.
func TestUsageReportsPauseTheScopeTheyName(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	p, err := scheduler.NewPlanner(scheduler.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	p.SetAccounts(topics.Facebook, 100)
	app := func(pct int) topics.LimitUsage {
		return topics.LimitUsage{Scope: topics.LimitScopeApp, Name: "app", UsedPct: pct, Remaining: -1, Limit: -1}
	}
	// At the planned share: nothing changes.
	if until := p.Observe(topics.Facebook, "page-1", app(98), now); !until.IsZero() {
		t.Fatalf("98 %% paused until %v", until)
	}
	if n := p.Affordable(topics.Facebook, now, 10); n == 0 {
		t.Fatal("nothing affordable at the planned share")
	}
	// A Page's own limit nearly spent, with a reset: that Page only.
	reset := now.Add(19 * time.Minute)
	page := topics.LimitUsage{Scope: topics.LimitScopeAccount, Name: "pages", UsedPct: 100, Remaining: -1, Limit: -1, Reset: reset}
	if until := p.Observe(topics.Facebook, "page-1", page, now); !until.Equal(reset) {
		t.Fatalf("page paused until %v, want %v", until, reset)
	}
	if ok, at := p.Admit(topics.Facebook, "page-1", now.Add(time.Minute)); ok || !at.Equal(reset) {
		t.Fatalf("page-1 admitted %v (at %v) during its pause", ok, at)
	}
	if ok, _ := p.Admit(topics.Facebook, "page-2", now.Add(time.Minute)); !ok {
		t.Fatal("page-2 not admitted while page-1 is paused")
	}
	// The app's share past the plan, without a reset: every Page, for the
	// time the share takes to fall back (2 points of 100 of an hour: 72 s).
	until := p.Observe(topics.Facebook, "page-2", app(100), now)
	if want := now.Add(72 * time.Second); !until.Equal(want) {
		t.Fatalf("app paused until %v, want %v", until, want)
	}
	if n := p.Affordable(topics.Facebook, now.Add(time.Minute), 10); n != 0 {
		t.Fatalf("%d fetches affordable while the app is paused", n)
	}
	if n := p.Affordable(topics.Facebook, until, 10); n == 0 {
		t.Fatal("nothing affordable after the pause")
	}
	if _, plats := p.Stats(now); plats[topics.Facebook].Slowed != 2 {
		t.Fatalf("slowed %d times, want 2", plats[topics.Facebook].Slowed)
	}
}
