package scheduler

import (
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// Planner is the scheduler's budget model, in memory and free of I/O: for
// each platform it spends a fetch's calls from every scope the fetch
// touches, spaces each platform account's fetches for its per-account
// scopes, pauses exactly the scope a throttle names, and picks each
// account's next due time. Every method takes the time it acts at, so a
// virtual clock drives it as well as the wall clock. It is safe for
// concurrent use.
type Planner struct {
	mu    sync.Mutex
	plats map[topics.Platform]*platformPlan
}

// platformPlan is one platform's state.
type platformPlan struct {
	lim      Limits
	app      []*appMeter
	spacing  time.Duration   // the least time between two fetches of an account
	perCall  []time.Duration // per account scope: the spacing one unit buys
	acctIdx  []int           // per account scope: its index in lim.Scopes
	accounts int             // linked accounts, for limits that grow with users
	state    map[string]*accountState
	expiry   []expiring // state entries in the order they may expire

	emitted, deferred, throttled int64
}

// accountState is what the planner remembers of one platform account: only
// while it constrains the account (recently fetched or paused).
type accountState struct {
	next     time.Time // earliest fetch its per-account scopes allow
	paused   time.Time // a throttle on the account: no fetch before
	pausedBy string
}

// expiring is an account whose state may be forgotten at a time.
type expiring struct {
	account string
	at      time.Time
}

// constrain returns account's state, creating it and queueing it for
// prune one recheck period after now (so the queue stays in time order).
func (pp *platformPlan) constrain(account string, st *accountState, now time.Time) *accountState {
	if st == nil {
		st = &accountState{}
		pp.state[account] = st
		pp.expiry = append(pp.expiry, expiring{account, now.Add(pp.recheck())})
	}
	return st
}

// recheck is how long after it is constrained an account's state is
// looked at again by prune.
func (pp *platformPlan) recheck() time.Duration { return max(pp.spacing, time.Minute) }

// appMeter spends from one app-wide scope.
type appMeter struct {
	s      Scope
	eff    float64 // usable units per window: the limit less headroom
	burst  float64
	tokens float64   // Rolling: the bucket
	last   time.Time // Rolling: when tokens was computed
	start  time.Time // Aligned, Monthly: the current window
	used   float64   // Aligned, Monthly: units spent in it
	spent  float64   // units spent in all
	paused time.Time // a throttle naming this scope
}

// NewPlanner validates limits and returns a Planner for them. A platform
// without limits is not planned (Admit refuses it).
func NewPlanner(limits map[topics.Platform]Limits) (*Planner, error) {
	p := &Planner{plats: map[topics.Platform]*platformPlan{}}
	for pl, l := range limits {
		l, err := l.withDefaults()
		if err != nil {
			return nil, fmt.Errorf("scheduler: limits of %s: %w", pl, err)
		}
		pp := &platformPlan{lim: l, state: map[string]*accountState{}}
		for i, s := range l.Scopes {
			switch {
			case s.PlanOnly:
			case s.Per == PerApp:
				pp.app = append(pp.app, &appMeter{s: s})
			default:
				pp.spacing = max(pp.spacing, s.spacing(l.Headroom))
				pp.perCall = append(pp.perCall, time.Duration(float64(s.Window)/(s.Limit*(1-l.Headroom))))
				pp.acctIdx = append(pp.acctIdx, i)
			}
		}
		pp.setAccounts(0)
		p.plats[pl] = pp
	}
	return p, nil
}

// setAccounts resizes the limits that grow with users.
func (pp *platformPlan) setAccounts(n int) {
	pp.accounts = n
	for _, m := range pp.app {
		m.eff = m.s.LimitFor(max(n, 1)) * (1 - pp.lim.Headroom)
		// The burst is what may be spent at once: 2 % of the window, at
		// least one fetch; the refill rate leaves room for it, so no span
		// of one window ever holds more than eff.
		m.burst = min(m.eff, max(m.eff*0.02, m.s.Cost))
		m.tokens = min(m.tokens, m.burst)
	}
}

// SetAccounts tells the planner how many accounts of p are linked, for the
// limits that grow with the app's users (Meta's 200 calls per user an hour).
func (p *Planner) SetAccounts(pl topics.Platform, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pp := p.plats[pl]; pp != nil && pp.accounts != n {
		pp.setAccounts(n)
	}
}

// Platforms returns the planned platforms, sorted.
func (p *Planner) Platforms() []topics.Platform {
	return slices.Sorted(maps.Keys(p.plats))
}

// available returns the units m may spend at now.
func (m *appMeter) available(now time.Time) float64 {
	switch m.s.Kind {
	case Rolling:
		if m.last.IsZero() {
			m.tokens, m.last = m.burst, now
		}
		if now.After(m.last) {
			rate := (m.eff - m.burst) / m.s.window().Seconds()
			m.tokens = min(m.burst, m.tokens+rate*now.Sub(m.last).Seconds())
			m.last = now
		}
		return m.tokens
	default:
		start := m.s.windowStart(now)
		if !start.Equal(m.start) {
			m.start, m.used = start, 0
		}
		// Paced: the allowance grows evenly over the window, so a window's
		// calls are spread over it, never above eff.
		length := m.s.windowEnd(start).Sub(start)
		allow := min(m.eff, m.eff*float64(now.Sub(start))/float64(length)+m.burst)
		return allow - m.used
	}
}

func (m *appMeter) spend(units float64) {
	m.spent += units
	if m.s.Kind == Rolling {
		m.tokens -= units
	} else {
		m.used += units
	}
}

// Affordable returns how many fetches of pl every app-wide scope allows at
// now, at most limit: the number of accounts worth claiming.
func (p *Planner) Affordable(pl topics.Platform, now time.Time, limit int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := p.plats[pl]
	if pp == nil {
		return 0
	}
	n := limit
	for _, m := range pp.app {
		if now.Before(m.paused) {
			return 0
		}
		n = min(n, int(m.available(now)/m.s.Cost))
	}
	return max(n, 0)
}

// Admit decides on a fetch of account on pl at now. If the account's own
// scopes allow it, Admit spends the fetch's cost from every scope and
// returns true; otherwise it spends nothing and returns false with the
// time the account may be fetched. Call Affordable first: Admit does not
// check the app-wide scopes' room again, so they may go into debt.
func (p *Planner) Admit(pl topics.Platform, account string, now time.Time) (bool, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := p.plats[pl]
	if pp == nil {
		return false, now.Add(time.Hour)
	}
	pp.prune(now)
	st := pp.state[account]
	if st != nil {
		if at := later(st.next, st.paused); now.Before(at) {
			pp.deferred++
			return false, at
		}
	}
	for _, m := range pp.app {
		m.available(now)
		m.spend(m.s.Cost)
	}
	if pp.spacing > 0 {
		st = pp.constrain(account, st, now)
		st.next = now.Add(pp.spacing)
	}
	pp.emitted++
	return true, time.Time{}
}

// Charge spends the cost of a fetch's posts pages beyond the first, which
// only its outcome tells: from the app-wide scopes (which may go into
// debt, delaying the next fetches) and from the account's own (pushing its
// next fetch out by what the extra calls use up).
func (p *Planner) Charge(pl topics.Platform, account string, pages int, now time.Time) {
	if pages <= 1 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := p.plats[pl]
	if pp == nil {
		return
	}
	extra := float64(pages - 1)
	for _, m := range pp.app {
		if m.s.PageCost > 0 {
			m.available(now)
			m.spend(m.s.PageCost * extra)
		}
	}
	var push time.Duration
	for i, si := range pp.acctIdx {
		push = max(push, time.Duration(pp.lim.Scopes[si].PageCost*extra)*pp.perCall[i])
	}
	if push > 0 {
		st := pp.state[account]
		next := now.Add(push)
		if st != nil {
			next = later(st.next, now).Add(push)
		}
		st = pp.constrain(account, st, now)
		st.next = next
	}
}

// Throttled applies a throttle the platform signalled for a fetch of
// account: scope "app" (or the name of an app-wide scope) pauses the app's
// fetches of pl, "account" (or a per-account scope's name) only the
// account's; an unnamed scope pauses the app, since guessing narrower could
// break the limit again. It returns when fetching may resume: until (an
// hour from now when zero or past).
func (p *Planner) Throttled(pl topics.Platform, account, scope string, until, now time.Time) time.Time {
	if !until.After(now) {
		until = now.Add(time.Hour)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := p.plats[pl]
	if pp == nil {
		return until
	}
	pp.throttled++
	per := PerApp
	if scope == string(PerAccount) {
		per = PerAccount
	}
	for _, s := range pp.lim.Scopes {
		if s.Name == scope {
			per = s.Per
		}
	}
	if per == PerAccount && account != "" {
		st := pp.constrain(account, pp.state[account], now)
		st.paused, st.pausedBy = later(st.paused, until), scope
		return until
	}
	for _, m := range pp.app {
		if scope == "" || scope == string(PerApp) || m.s.Name == scope {
			m.paused = later(m.paused, until)
		}
	}
	if len(pp.app) == 0 && account != "" { // nothing app-wide to pause: pause the account
		st := pp.constrain(account, pp.state[account], now)
		st.paused, st.pausedBy = later(st.paused, until), scope
	}
	return until
}

// PausedUntil returns when the app-wide pause of pl ends (zero: none) and
// when account's ends.
func (p *Planner) PausedUntil(pl topics.Platform, account string) (app, acct time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := p.plats[pl]
	if pp == nil {
		return time.Time{}, time.Time{}
	}
	for _, m := range pp.app {
		app = later(app, m.paused)
	}
	if st := pp.state[account]; st != nil {
		acct = st.paused
	}
	return app, acct
}

// NextDue returns when account, fetched at now, is next due: at its own
// stable offset within each Interval (so accounts spread evenly over it
// and each is fetched at the same minute of every hour), the first such
// time after now and after the account's spacing. An account fetched off
// its slot (a refresh press) thus keeps its slot and stays within one
// Interval of staleness.
func (p *Planner) NextDue(pl topics.Platform, account string, now time.Time) time.Time {
	iv, spacing := time.Hour, time.Duration(0)
	if pp := p.plats[pl]; pp != nil {
		iv, spacing = pp.lim.Interval, pp.spacing
	}
	h := fnv.New64a()
	h.Write([]byte(account))
	off := time.Duration(h.Sum64() % uint64(iv))
	next := now.Truncate(iv).Add(off)
	for !next.After(now.Add(spacing)) {
		next = next.Add(iv)
	}
	return next
}

// prune forgets accounts that no longer constrain anything, looking at
// each one recheck period after it was constrained (and again a period
// later while it still is).
func (pp *platformPlan) prune(now time.Time) {
	n := 0
	for n < len(pp.expiry) && !now.Before(pp.expiry[n].at) {
		e := pp.expiry[n]
		if st := pp.state[e.account]; st != nil {
			if now.Before(later(st.next, st.paused)) {
				pp.expiry = append(pp.expiry, expiring{e.account, now.Add(pp.recheck())})
			} else {
				delete(pp.state, e.account)
			}
		}
		n++
	}
	if n > 0 {
		pp.expiry = pp.expiry[n:]
		if cap(pp.expiry) > 1024 && len(pp.expiry) < cap(pp.expiry)/4 {
			pp.expiry = append([]expiring(nil), pp.expiry...)
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ScopeStats is one scope's spending, for operators and metrics.
type ScopeStats struct {
	Platform topics.Platform
	Scope    string
	Per      Per
	// Spent is the units spent since the planner started (app-wide scopes).
	Spent float64
	// Limit is the platform's limit per window with the linked accounts.
	Limit float64
	// Left is what the scheduler may still spend now (app-wide scopes;
	// -1 for per-account scopes, which are spent per account).
	Left float64
	// PausedUntil is when a throttle on the scope ends; zero when none.
	PausedUntil time.Time
}

// PlatformStats are one platform's counters.
type PlatformStats struct {
	Emitted, Deferred, Throttled int64
	// Accounts is the linked accounts the limits are sized for.
	Accounts int
	// Constrained is the accounts currently spaced or paused.
	Constrained int
}

// Stats returns every scope's spending and each platform's counters at
// now, for metrics (calls spent and quota left per scope).
func (p *Planner) Stats(now time.Time) ([]ScopeStats, map[topics.Platform]PlatformStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []ScopeStats
	plats := map[topics.Platform]PlatformStats{}
	for _, pl := range slices.Sorted(maps.Keys(p.plats)) {
		pp := p.plats[pl]
		plats[pl] = PlatformStats{Emitted: pp.emitted, Deferred: pp.deferred, Throttled: pp.throttled,
			Accounts: pp.accounts, Constrained: len(pp.state)}
		for _, m := range pp.app {
			out = append(out, ScopeStats{Platform: pl, Scope: m.s.Name, Per: PerApp, Spent: m.spent,
				Limit: m.s.LimitFor(max(pp.accounts, 1)), Left: max(m.available(now), 0), PausedUntil: m.paused})
		}
		for _, si := range pp.acctIdx {
			s := pp.lim.Scopes[si]
			out = append(out, ScopeStats{Platform: pl, Scope: s.Name, Per: PerAccount, Limit: s.Limit, Left: -1})
		}
	}
	return out, plats
}
