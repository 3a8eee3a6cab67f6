package scheduler_test

import (
	"math"
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
	// LinkedIn: 100,000 calls a day per endpoint, 2 % kept: 98,000 calls
	// a day. The posts endpoints charge a call a page: a 7-day re-read (35
	// posts) fits the fetch's one page of 50, a 30-day one (150) takes 2
	// more. Fetched hourly, one fetch in 168 makes the 30-day re-read:
	// 98,000 / (1 + 2/168) a day, 4,035 an hour; fetched daily, one in 7:
	// 98,000 / (1 + 2/7) = 76,222 a day.
	li := byPlatform[topics.LinkedIn]
	if li.Hourly != 4035 || li.Daily != 76222 || li.Binding != "posts (app)" {
		t.Errorf("LinkedIn: %+v", li)
	}
	// 58,800 accounts go round in T hours, T such that the fetches a day
	// at T's cost (one in ⌈168/T⌉ re-reads 30 days) cover them: about
	// 17.3 h (14.4 h if re-reads cost nothing).
	T := li.Staleness.Hours()
	perDay := 98_000 / (1 + 2/math.Ceil(168/T))
	if got := perDay * T / 24; math.Abs(got-58_800) > 58_800.0/T/60*2 || T < 17 || T > 18 {
		t.Errorf("LinkedIn staleness %v: %.0f fetches a day go round %.0f accounts in it, want 58,800", li.Staleness, perDay, got)
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
