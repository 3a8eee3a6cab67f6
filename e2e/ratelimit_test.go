package e2e_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

// TestRefreshStormStaysWithinPerUserLimits sets the simulator's per-user
// (per-account) limits very low and has six users who linked the same
// account on each platform press refresh one after another (each press is
// debounced per link to one a minute, so the presses on a shared account
// come every few seconds), with one more account per platform: every
// account keeps getting fresh data, and the simulator never refuses a call
// for an exhausted limit.
func TestRefreshStormStaysWithinPerUserLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const window = 10 * time.Second
	low := func(n int) sim.Limit { return sim.Limit{Requests: n, Window: window} }
	// The scheduler is told the same limits, as an operator would be.
	perAccount := func(name string, n, cost float64) scheduler.Scope {
		return scheduler.Scope{Name: name, Per: scheduler.PerAccount, Limit: n, Window: window, Cost: cost, PageCost: 1}
	}
	meta := scheduler.Scope{Name: "app", Per: scheduler.PerApp, PerUser: 200, Window: time.Hour, Cost: 3}
	linkedin := scheduler.DefaultLimits()[topics.LinkedIn]
	for i, s := range linkedin.Scopes {
		if s.Per == scheduler.PerAccount {
			linkedin.Scopes[i] = perAccount(s.Name, 2, 1)
		}
	}
	limits := map[topics.Platform]scheduler.Limits{
		topics.X:         {Scopes: []scheduler.Scope{perAccount("users/me", 2, 1), perAccount("users/:id/tweets", 2, 1)}},
		topics.Facebook:  {Scopes: []scheduler.Scope{meta, perAccount("pages", 4, 2)}},
		topics.Instagram: {Scopes: []scheduler.Scope{meta, perAccount("instagram", 6, 3)}},
		topics.LinkedIn:  linkedin,
	}
	p := newPipelineSim(t, time.Now, time.Now, func(c *sim.Config) {
		c.X.UsersMe, c.X.UserTweets = low(2), low(2)
		c.Facebook.Page = low(4)
		c.Instagram.User = low(6)
		c.LinkedIn.Member = low(2)
	}, withMaxPostPages(1), withScheduler(0, limits))
	ctx := t.Context()
	const users = 6
	var ids []string
	links := map[string][]string{} // user → link ids
	for i := range users {
		_, u := p.mustSignUp(t, fmt.Sprintf("user%d@example.com", i))
		ids = append(ids, u)
		for _, pl := range p.sim.Platforms() {
			accts := p.sim.Accounts(pl)[:1]
			if i == 0 {
				accts = p.sim.Accounts(pl)[:2]
			}
			for _, a := range accts {
				p.mustLink(u, pl, a)
			}
		}
		ls, err := p.pg.Links(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			links[u] = append(links[u], l.ID)
		}
	}
	p.startScheduler()
	p.startFetcher()

	const storm = 30 * time.Second
	start := time.Now()
	accepted := 0
	pressed := map[string]time.Time{} // link → its last accepted press
	for time.Since(start) < storm {
		// User i joins the storm after i×4 s.
		for i, u := range ids {
			if time.Since(start) < time.Duration(i)*4*time.Second {
				continue
			}
			for _, id := range links[u] {
				at := time.Now()
				n, err := p.pg.RequestRefresh(ctx, u, id)
				if err != nil {
					t.Fatal(err)
				}
				if n > 0 {
					pressed[id] = at
				}
				accepted += n
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if want := users*4 + 4; accepted < want {
		t.Fatalf("%d refresh requests accepted, want at least %d", accepted, want)
	}
	// Every press got its fresh data: each link is fetched after its last
	// accepted press (the shared accounts' last come 20 s into the storm).
	testkit.Eventually(t, 4*window, func() error {
		var stale []string
		for _, u := range ids {
			ls, err := p.pg.Links(ctx, u)
			if err != nil {
				return err
			}
			for _, l := range ls {
				if l.LastFetchedAt.Before(pressed[l.ID]) {
					stale = append(stale, fmt.Sprintf("%s %s (pressed %v, fetched %v)", l.Platform, l.AccountID,
						pressed[l.ID].Format(time.StampMilli), l.LastFetchedAt.Format(time.StampMilli)))
				}
			}
		}
		if len(stale) > 0 {
			return fmt.Errorf("links without data fresher than their last press: %v", stale)
		}
		return nil
	})
	for pl, ps := range p.sim.Stats().Platforms {
		shared := ps.Accounts[p.sim.Accounts(pl)[0].ID].Requests
		t.Logf("%s: %d requests (%d for the shared account), %d limit breaches", pl, ps.Requests, shared, ps.LimitBreaches)
		if ps.LimitBreaches != 0 {
			t.Errorf("%s: the simulator refused %d calls for an exhausted limit", pl, ps.LimitBreaches)
		}
	}
	t.Logf("%d refresh requests accepted", accepted)
}
