package scheduler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/topics"
)

func TestPlanWithDefaultLimits(t *testing.T) {
	plans, err := scheduler.Plan(scheduler.DefaultLimits(), map[topics.Platform]int{
		topics.X: 350_000, topics.Facebook: 300_000, topics.Instagram: 290_000, topics.LinkedIn: 58_800})
	if err != nil {
		t.Fatal(err)
	}
	byPlatform := map[topics.Platform]scheduler.CapacityPlan{}
	for _, p := range plans {
		byPlatform[p.Platform] = p
	}
	// LinkedIn: 100,000 calls a day per endpoint, 2 % kept: 98,000
	// fetches a day, 4,083 an hour; 58,800 accounts go round in 14.4 h.
	li := byPlatform[topics.LinkedIn]
	if li.Hourly != 4083 || li.Daily != 98000 || !strings.HasSuffix(li.Binding, "(app)") {
		t.Errorf("LinkedIn: %+v", li)
	}
	if want := time.Duration(58_800.0 / (98_000.0 / 24) * float64(time.Hour)); li.Staleness.Round(time.Minute) != want.Round(time.Minute) {
		t.Errorf("LinkedIn staleness %v, want %v", li.Staleness, want)
	}
	// Meta's app limit grows with users: every account hourly.
	for _, p := range []topics.Platform{topics.Facebook, topics.Instagram} {
		if c := byPlatform[p]; c.Hourly != scheduler.Unbounded || c.Staleness != time.Hour {
			t.Errorf("%s: %+v", p, c)
		}
	}
	// X: hourly within the per-user limits; the monthly post cap (planning
	// only) covers 1,361 accounts posting once an hour.
	x := byPlatform[topics.X]
	if x.Hourly != scheduler.Unbounded || x.Staleness != time.Hour {
		t.Errorf("X: %+v", x)
	}
	var capAccounts int
	for _, s := range x.Scopes {
		if s.PlanOnly {
			capAccounts = s.Accounts
		}
	}
	if capAccounts != 1361 {
		t.Errorf("X monthly cap fits %d accounts, want 1361", capAccounts)
	}
	out := scheduler.FormatPlan(plans)
	for _, want := range []string{"linkedin", "organizationAcls (app)", "posts read/month", "posts beyond it are skipped"} {
		if !strings.Contains(out, want) {
			t.Errorf("FormatPlan lacks %q:\n%s", want, out)
		}
	}
	t.Log("\n" + out)
}

func TestPlanPerAccountSpacingBindsBelowHourly(t *testing.T) {
	plans, err := scheduler.Plan(map[topics.Platform]scheduler.Limits{topics.X: {Scopes: []scheduler.Scope{
		{Name: "users/me", Per: scheduler.PerAccount, Limit: 20, Window: 24 * time.Hour, Cost: 1}}}}, // 19 fetches a day
		map[topics.Platform]int{topics.X: 10})
	if err != nil {
		t.Fatal(err)
	}
	if p := plans[0]; p.Hourly != 0 || p.Binding != "users/me" || p.Staleness != 24*time.Hour/19 {
		t.Errorf("plan %+v: want no account hourly, bound by users/me, 24h/19 apart", p)
	}
}
