package scheduler

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// Unbounded is a capacity that grows with the accounts linked (Meta's app
// limit, 200 calls per user an hour, always covers its users' fetches).
const Unbounded = -1

// CapacityPlan is what a platform's limits allow for a number of accounts.
type CapacityPlan struct {
	Platform topics.Platform
	// Accounts the plan is for.
	Accounts int
	// Hourly and Daily are how many accounts can be fetched every hour and
	// every 24 hours (Unbounded: any number), each fetch's re-reads of
	// older posts counted at that spacing.
	Hourly, Daily int
	// Binding is the scope that sets the capacity: the app-wide scope with
	// the fewest fetches, or a per-account scope when it alone keeps an
	// account from hourly fetches.
	Binding string
	// Staleness is the longest an account waits between fetches with
	// Accounts linked: the Interval when they fit, else the time the
	// binding budget takes to go round them all (spread evenly), with the
	// re-reads a fetch makes at that spacing.
	Staleness time.Duration
	// Scopes are each scope's figures.
	Scopes []ScopeCapacity
}

// ScopeCapacity is one scope's figures.
type ScopeCapacity struct {
	Name   string
	Per    Per
	Unit   string
	Window string // "1h", "UTC day", "calendar month", ...
	// Limit per window with the plan's accounts.
	Limit float64
	// Cost of one fetch, in Unit; for the app-wide scopes that bound the
	// fetches, on average with each account fetched every Interval, the
	// decaying refresh's re-read pages included (Limits.PostsPageSize).
	Cost float64
	// FetchesPerDay the scope allows (app-wide; Unbounded when it grows
	// with users and covers them) or per account (per-account scopes).
	FetchesPerDay float64
	// Spacing is the least time between one account's fetches
	// (per-account scopes).
	Spacing time.Duration
	// PlanOnly scopes do not bound the fetches: X's monthly post cap
	// (beyond it fetches skip their posts), or a scope not spent at all.
	PlanOnly bool
	// Accounts is how many accounts' fetches fit at Interval (PlanOnly
	// monthly caps: how many accounts' posts fit, at XPostsPerFetch posts
	// an hour each).
	Accounts int
}

// Plan returns the capacity of limits for the given accounts per platform,
// sorted by platform.
func Plan(limits map[topics.Platform]Limits, accounts map[topics.Platform]int) ([]CapacityPlan, error) {
	var out []CapacityPlan
	for _, p := range slices.Sorted(func(yield func(topics.Platform) bool) {
		for p := range limits {
			if !yield(p) {
				return
			}
		}
	}) {
		l, err := limits[p].withDefaults()
		if err != nil {
			return nil, fmt.Errorf("scheduler: limits of %s: %w", p, err)
		}
		out = append(out, planPlatform(p, l, accounts[p]))
	}
	return out, nil
}

func planPlatform(p topics.Platform, l Limits, n int) CapacityPlan {
	cp := CapacityPlan{Platform: p, Accounts: n, Hourly: Unbounded, Daily: Unbounded}
	day := 24 * time.Hour
	spacing := time.Duration(0)
	// bounding are the app-wide scopes that bound the fetches, whose cost
	// per fetch grows with the time between an account's fetches (more
	// of its fetches re-read older posts).
	var bounding []Scope
	// perHour is the fetches an hour s allows when each account is
	// fetched every every.
	perHour := func(s Scope, every time.Duration) float64 {
		eff := s.LimitFor(max(n, 1)) * (1 - l.Headroom)
		return eff / l.fetchCost(s, every) * float64(time.Hour) / float64(s.window())
	}
	for _, s := range l.Scopes {
		sc := ScopeCapacity{Name: s.Name, Per: s.Per, Unit: s.Unit, Limit: s.LimitFor(max(n, 1)), Cost: s.Cost, PlanOnly: s.PlanOnly || s.SkipPosts}
		switch {
		case s.Kind == Monthly:
			sc.Window = "calendar month"
		case s.Kind == Aligned && s.Window == day:
			sc.Window = "UTC day"
		default:
			sc.Window = s.Window.String()
		}
		eff := sc.Limit * (1 - l.Headroom)
		switch {
		case s.Per == PerAccount:
			sc.Spacing = s.spacing(l.Headroom)
			sc.FetchesPerDay = float64(day) / float64(sc.Spacing)
			spacing = max(spacing, sc.Spacing)
			sc.Accounts = Unbounded
		case s.PlanOnly || s.SkipPosts:
			// Posts read per month: each account's new posts, read once.
			perAccountMonth := s.Cost * float64(30*day/l.Interval)
			sc.FetchesPerDay = eff / s.Cost / 30
			sc.Accounts = int(eff / perAccountMonth)
		case s.PerUser > 0 && s.PerUser*(1-l.Headroom)*float64(time.Hour)/float64(s.window()) >= l.fetchCost(s, l.Interval)*float64(time.Hour)/float64(l.Interval):
			// Grows with users faster than their fetches cost.
			sc.FetchesPerDay = Unbounded
			sc.Accounts = Unbounded
		default:
			sc.Cost = l.fetchCost(s, l.Interval)
			ph := perHour(s, l.Interval)
			sc.FetchesPerDay = ph * 24
			sc.Accounts = int(ph * float64(l.Interval) / float64(time.Hour))
			bounding = append(bounding, s)
		}
		cp.Scopes = append(cp.Scopes, sc)
	}
	// capAt is the fetches an hour the app-wide scopes allow when each
	// account is fetched every every, and the scope that sets it.
	capAt := func(every time.Duration) (float64, string) {
		best, name := math.Inf(1), ""
		for _, s := range bounding {
			if ph := perHour(s, every); ph < best {
				best, name = ph, s.Name
			}
		}
		return best, name
	}
	// Fetches an hour the app-wide scopes allow, each account fetched
	// every Interval.
	perHourCap, binding := capAt(l.Interval)
	if !math.IsInf(perHourCap, 1) {
		cp.Binding = binding
		cp.Hourly = int(perHourCap * float64(l.Interval) / float64(time.Hour))
		// Fetched once a day, every fetch re-reads a week of posts.
		daily, _ := capAt(max(day, l.Interval))
		cp.Daily = int(daily * 24)
	}
	if spacing > l.Interval {
		// An account cannot be fetched every Interval at all.
		cp.Hourly = 0
		for _, sc := range cp.Scopes {
			if sc.Per == PerAccount && sc.Spacing == spacing {
				cp.Binding = sc.Name
			}
		}
	}
	switch {
	case cp.Hourly == Unbounded || n <= cp.Hourly:
		cp.Staleness = max(l.Interval, spacing)
	case perHourCap > 0:
		// The time to go round n accounts sets how many fetches re-read
		// older posts, which sets the cost of a fetch and so the time:
		// the fixed point, from below (it grows with each step, bounded
		// by the cost of a fetch that always re-reads).
		rate, name := perHourCap, cp.Binding
		var stale time.Duration
		for range 20 {
			next := max(time.Duration(float64(n)/rate*float64(time.Hour)), spacing)
			if next-stale < time.Minute {
				stale = next
				break
			}
			stale = next
			rate, name = capAt(stale)
		}
		cp.Staleness = stale
		if time.Duration(float64(n)/rate*float64(time.Hour)) >= spacing {
			// The app-wide scope sets it, not a per-account spacing.
			cp.Binding = name
		}
	}
	return cp
}

// fetchCost is what one fetch spends in s on average when each account is
// fetched every every: its Cost, and PageCost for each page of posts the
// decaying refresh re-reads beyond the fetch's first (a week's posts at
// the first fetch WeekRereadEvery after the last re-read, RecentDays'
// at the first MonthRereadEvery after the last 30-day one, which also
// counts as the week's).
func (l Limits) fetchCost(s Scope, every time.Duration) float64 {
	if l.PostsPageSize <= 0 || s.PageCost == 0 || every <= 0 {
		return s.Cost
	}
	extra := func(days int) float64 {
		return float64(max(1, (PostsPerDay*days+l.PostsPageSize-1)/l.PostsPageSize) - 1)
	}
	// Fetches apart: a 30-day re-read every cm fetches; after it, a week's
	// every cw fetches until the next 30-day one (it counts as the week's
	// too), so ⌈cm/cw⌉ − 1 of them in cm fetches.
	fetches := func(period time.Duration) float64 { return math.Ceil(float64(period) / float64(every)) }
	cm, cw := fetches(MonthRereadEvery), fetches(WeekRereadEvery)
	month := 1 / cm
	week := (math.Ceil(cm/cw) - 1) / cm
	return s.Cost + s.PageCost*(month*extra(topics.RecentDays)+week*extra(7))
}

// FormatPlan writes plans as a table for operators.
func FormatPlan(plans []CapacityPlan) string {
	var b strings.Builder
	count := func(n int) string {
		if n == Unbounded {
			return "unbounded"
		}
		return fmt.Sprint(n)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "platform\taccounts\tfit hourly\tfit daily\tbinding scope\texpected staleness")
	for _, p := range plans {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%v\n", p.Platform, p.Accounts, count(p.Hourly), count(p.Daily), p.Binding, p.Staleness.Round(time.Minute))
	}
	tw.Flush()
	b.WriteString("\nscopes:\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "platform\tscope\tper\tlimit\twindow\tcost/fetch\tfetches/day\tspacing\taccounts that fit\t")
	for _, p := range plans {
		for _, s := range p.Scopes {
			perDay := "unbounded"
			if s.FetchesPerDay != Unbounded {
				perDay = fmt.Sprintf("%.0f", s.FetchesPerDay)
			}
			if s.Per == PerAccount {
				perDay += " per account"
			}
			spacing := "-"
			if s.Spacing > 0 {
				spacing = s.Spacing.Round(time.Second).String()
			}
			note := ""
			if s.PlanOnly {
				note = "(posts beyond it are skipped; accounts still fetched)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f %s\t%s\t%.4g\t%s\t%s\t%s\t%s\n", p.Platform, s.Name, s.Per, s.Limit, s.Unit, s.Window,
				s.Cost, perDay, spacing, count(s.Accounts), note)
		}
	}
	tw.Flush()
	return b.String()
}
