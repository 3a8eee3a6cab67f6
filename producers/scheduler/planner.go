package scheduler

import (
	"fmt"
	"maps"
	"math"
	"math/bits"
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
	list  []*platformPlan // the same, for plan's linear scan

	keys    []uint64 // AdmitDue's account keys, reused
	touched uint64   // what stateTable.touch read, kept
}

// plan returns pl's plan, nil when pl is not planned: a scan of a few
// entries, cheaper than a map lookup on the per-fetch path.
func (p *Planner) plan(pl topics.Platform) *platformPlan {
	for _, pp := range p.list {
		if pp.pl == pl {
			return pp
		}
	}
	return nil
}

// platformPlan is one platform's state.
type platformPlan struct {
	pl       topics.Platform
	lim      Limits
	app      []*appMeter
	posts    []*appMeter     // SkipPosts scopes: posts read
	spacing  time.Duration   // the least time between two fetches of an account
	phase    int64           // the Unix epoch's offset into lim.Interval, ns (see nextDue)
	perCall  []time.Duration // per account scope: the spacing one unit buys
	acctIdx  []int           // per account scope: its index in lim.Scopes
	accounts int             // linked accounts, for limits that grow with users

	// states are the accounts that constrain a fetch (recently fetched
	// or paused), keyed by accountKey: a 64-bit hash (a collision among a
	// million accounts has a chance of about 3e-8 and would only space two
	// accounts' fetches as one's). A state that no longer constrains is as
	// good as absent, and its slot is reused.
	states *stateTable

	emitted, deferred, throttled, slowed, skipped int64
}

// accountState is what the planner remembers of one platform account; it
// matters only while it constrains the account (recently fetched or
// paused), and its slot is reused after (see stateTable).
type accountState struct {
	next   int64 // earliest fetch its per-account scopes allow, Unix ns
	paused int64 // a throttle on the account: no fetch before, Unix ns
}

// until is when the state stops constraining its account, in Unix ns.
func (st accountState) until() int64 { return max(st.next, st.paused) }

// accountKey is FNV-1a (64 bits) of account: stable across runs, so each
// account keeps its minute of the hour, and free of allocation.
func accountKey(account string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(account); i++ {
		h ^= uint64(account[i])
		h *= 1099511628211
	}
	return h
}

// stateTable is a hash table of account states by key: open addressing
// with linear probing in one slice. A state that no longer constrains
// (until at or before the time it is given) counts as absent: put reuses
// its slot, and the table is rebuilt without such states when half its
// slots are taken.
//
// A key's place is its account's slot in the Interval (see NextDue)
// scaled to the table, not a hash of it: accounts are fetched in slot
// order, so consecutive fetches read and write neighbouring slots, and an
// account finds its own state of an Interval before in its place (the
// table keeps one slot per account fetched; it is sized to at least
// twice the linked accounts, so their places are half empty). A key of 0
// is stored as 1.
type stateTable struct {
	slots  []stateSlot // a power of two long
	used   int         // slots with a key
	spare  []stateSlot // the slots before the last rebuild, reused by the next
	iv     uint64      // the Interval: a key's slot is key % iv
	scale  uint64      // 2^64 / iv: slot*scale is the slot's fraction of iv
	shift  uint        // 64 - log2(len(slots))
	minLen int         // the least length: twice the accounts, a power of two
}

type stateSlot struct {
	key uint64 // 0: empty
	st  accountState
}

const minStateSlots = 1024

// newStateTable returns a table of n slots (a power of two) for accounts
// spread over iv.
func newStateTable(n int, iv time.Duration) *stateTable {
	t := &stateTable{iv: uint64(max(iv, 1)), minLen: n}
	t.scale = ^uint64(0) / t.iv
	t.setSlots(make([]stateSlot, n))
	return t
}

func (t *stateTable) setSlots(s []stateSlot) {
	t.slots, t.shift = s, uint(64-bits.TrailingZeros(uint(len(s))))
}

// index is key's place: its slot's fraction of the Interval, of the table.
func (t *stateTable) index(key uint64) int { return int(key % t.iv * t.scale >> t.shift) }

// reserve makes the table at least twice accounts long.
func (t *stateTable) reserve(accounts int) {
	for t.minLen < 2*accounts {
		t.minLen *= 2
	}
	if len(t.slots) < t.minLen {
		t.rebuild(math.MinInt64) // keeping every state
	}
}

// get returns key's state, which may no longer constrain.
func (t *stateTable) get(key uint64) (accountState, bool) {
	key = max(key, 1)
	mask := len(t.slots) - 1
	for i := t.index(key); ; i = (i + 1) & mask {
		switch s := &t.slots[i]; s.key {
		case key:
			return s.st, true
		case 0:
			return accountState{}, false
		}
	}
}

// put sets key's state at now (Unix ns): in key's slot, else in the first
// slot of its cluster whose state no longer constrains, else in the empty
// slot ending the cluster.
func (t *stateTable) put(key uint64, st accountState, now int64) {
	key = max(key, 1)
	mask := len(t.slots) - 1
	free := -1
	for i := t.index(key); ; i = (i + 1) & mask {
		s := &t.slots[i]
		switch {
		case s.key == key:
			s.st = st
			return
		case s.key == 0:
			if free < 0 {
				if 2*(t.used+1) > len(t.slots) {
					t.rebuild(now)
					t.put(key, st, now)
					return
				}
				free = i
				t.used++
			}
			t.slots[free] = stateSlot{key, st}
			return
		case free < 0 && s.st.until() <= now:
			free = i
		}
	}
}

// rebuild moves the states that constrain at now into a table an eighth
// full at most (so rebuilds are a few spacings apart), and at least
// minLen long.
func (t *stateTable) rebuild(now int64) {
	live := 0
	for _, s := range t.slots {
		if s.key != 0 && s.st.until() > now {
			live++
		}
	}
	n := max(t.minLen, minStateSlots)
	for n < 8*(live+1) {
		n *= 2
	}
	old := t.slots
	if cap(t.spare) == n {
		t.setSlots(t.spare[:n])
		clear(t.slots)
	} else {
		t.setSlots(make([]stateSlot, n))
	}
	t.spare, t.used = old, 0
	for _, s := range old {
		if s.key != 0 && s.st.until() > now {
			t.put(s.key, s.st, now)
		}
	}
}

// touch reads the first slot of each key's cluster, so that the slots a
// batch of lookups needs are fetched from memory together rather than
// one lookup at a time (the loads do not depend on each other), and
// returns a value to keep the reads.
func (t *stateTable) touch(keys []uint64) (sum uint64) {
	for _, k := range keys {
		sum += t.slots[t.index(max(k, 1))].key
	}
	return sum
}

// constraining counts the states that constrain at now.
func (t *stateTable) constraining(now int64) int {
	n := 0
	for _, s := range t.slots {
		if s.key != 0 && s.st.until() > now {
			n++
		}
	}
	return n
}

// appMeter spends from one app-wide scope. Its times are Unix ns (the
// per-fetch path compares them).
type appMeter struct {
	s      Scope
	eff    float64 // usable units per window: the limit less headroom
	burst  float64
	tokens float64   // Rolling: the bucket
	last   int64     // Rolling: when tokens was computed; 0: never
	start  int64     // Aligned, Monthly: the current window
	end    int64     // Aligned, Monthly: its end; 0: none yet
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
		pp := &platformPlan{pl: pl, lim: l, states: newStateTable(minStateSlots, l.Interval)}
		epoch := time.Unix(0, 0)
		pp.phase = int64(epoch.Sub(epoch.Truncate(l.Interval)))
		for i, s := range l.Scopes {
			switch {
			case s.PlanOnly:
			case s.SkipPosts:
				pp.posts = append(pp.posts, &appMeter{s: s})
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
		p.list = append(p.list, pp)
	}
	return p, nil
}

// setAccounts resizes the limits that grow with users.
func (pp *platformPlan) setAccounts(n int) {
	pp.accounts = n
	pp.states.reserve(n)
	for _, m := range slices.Concat(pp.app, pp.posts) {
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
	if pp := p.plan(pl); pp != nil && pp.accounts != n {
		pp.setAccounts(n)
	}
}

// Platforms returns the planned platforms, sorted.
func (p *Planner) Platforms() []topics.Platform {
	return slices.Sorted(maps.Keys(p.plats))
}

// available returns the units m may spend at now.
func (m *appMeter) available(now time.Time) float64 {
	ns := now.UnixNano()
	switch m.s.Kind {
	case Rolling:
		if m.last == 0 {
			m.tokens, m.last = m.burst, ns
		}
		if ns > m.last {
			refill := (m.eff - m.burst) * (float64(ns-m.last) / float64(m.s.window()))
			m.tokens = min(m.burst, m.tokens+refill)
			m.last = ns
		}
		return m.tokens
	default:
		// The window is recomputed only when now leaves it (a calendar
		// month's end costs a date normalization).
		if m.end == 0 || ns < m.start || ns >= m.end {
			start := m.s.windowStart(now)
			if st := start.UnixNano(); st != m.start {
				m.start, m.used = st, 0
			}
			m.end = m.s.windowEnd(start).UnixNano()
		}
		// Paced: the allowance grows evenly over the window, so a window's
		// calls are spread over it, never above eff.
		allow := min(m.eff, m.eff*float64(ns-m.start)/float64(m.end-m.start)+m.burst)
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
	pp := p.plan(pl)
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

// Admit decides on a fetch of account on pl at now: AdmitFetch without
// the posts decision.
func (p *Planner) Admit(pl topics.Platform, account string, now time.Time) (bool, time.Time) {
	a := p.AdmitFetch(pl, account, now)
	return a.OK, a.At
}

// Admission is the planner's decision on a fetch.
type Admission struct {
	// OK: fetch now. Otherwise At is when the account may be fetched.
	OK bool
	At time.Time
	// SkipPosts: fetch the account without its posts, the posts budget
	// (X's monthly cap) having no room now.
	SkipPosts bool
}

// AdmitFetch decides on a fetch of account on pl at now. If the account's
// own scopes allow it, it spends the fetch's cost from every scope it
// touches and returns OK; otherwise it spends nothing and returns when
// the account may be fetched. A posts scope (Scope.SkipPosts) without room
// for the fetch's expected posts does not delay it: the fetch skips its
// posts. Call Affordable first: AdmitFetch does not check the app-wide
// scopes' room again, so they may go into debt.
func (p *Planner) AdmitFetch(pl topics.Platform, account string, now time.Time) Admission {
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := p.plan(pl)
	if pp == nil {
		return Admission{At: now.Add(time.Hour)}
	}
	return pp.admit(accountKey(account), now, now.UnixNano())
}

// Decision is the planner's decision on a claimed account (see AdmitDue).
type Decision struct {
	Admission
	// Next is when the account is due next, if OK (see NextDue).
	Next time.Time
}

// AdmitDue decides on a fetch of each of due at now, appending the
// decisions to out in the same order: AdmitFetch, and NextDue for the
// accounts admitted, under one lock and hashing each account id once (the
// scheduler's hot path). An account without links is not admitted and
// spends nothing (its Decision is zero).
func (p *Planner) AdmitDue(pl topics.Platform, due []Due, now time.Time, out []Decision) []Decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := p.plan(pl)
	ns := now.UnixNano()
	keys := p.keys[:0]
	for k := range due {
		keys = append(keys, accountKey(due[k].AccountID))
	}
	p.keys = keys
	if pp != nil {
		p.touched += pp.states.touch(keys)
	}
	for k := range due {
		switch {
		case len(due[k].Links) == 0:
			out = append(out, Decision{})
		case pp == nil:
			out = append(out, Decision{Admission: Admission{At: now.Add(time.Hour)}})
		default:
			key := keys[k]
			dec := Decision{Admission: pp.admit(key, now, ns)}
			if dec.OK {
				dec.Next = time.Unix(0, pp.nextDue(key, ns)).UTC()
			}
			out = append(out, dec)
		}
	}
	return out
}

// admit is AdmitFetch of the account whose accountKey is key, at now (ns
// in Unix ns); p.mu held.
func (pp *platformPlan) admit(key uint64, now time.Time, ns int64) Admission {
	st, known := pp.states.get(key)
	if known {
		if at := st.until(); ns < at {
			pp.deferred++
			return Admission{At: time.Unix(0, at).UTC()}
		}
	}
	for _, m := range pp.app {
		m.available(now)
		m.spend(m.s.Cost)
	}
	skip := false
	for _, m := range pp.posts {
		if now.Before(m.paused) || m.available(now) < m.s.Cost {
			skip = true
		}
	}
	if skip {
		pp.skipped++
	} else {
		for _, m := range pp.posts {
			m.spend(m.s.Cost)
		}
	}
	if pp.spacing > 0 {
		st.next = ns + int64(pp.spacing)
		pp.states.put(key, st, ns)
	}
	pp.emitted++
	return Admission{OK: true, SkipPosts: skip}
}

// PostsRoom returns the posts pl's posts scopes (Scope.SkipPosts) allow
// at now beyond what they have spent, the least of them; 0 while one is
// paused, +Inf without posts scopes.
func (p *Planner) PostsRoom(pl topics.Platform, now time.Time) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := p.plan(pl)
	if pp == nil {
		return 0
	}
	room := math.Inf(1)
	for _, m := range pp.posts {
		if now.Before(m.paused) {
			return 0
		}
		room = min(room, m.available(now))
	}
	return room
}

// ChargePosts spends the posts a fetch of pl read beyond the expected
// Cost it was admitted with from the posts scopes (which may go into debt,
// making the next fetches skip their posts).
func (p *Planner) ChargePosts(pl topics.Platform, posts int, now time.Time) {
	if posts <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := p.plan(pl)
	if pp == nil {
		return
	}
	for _, m := range pp.posts {
		if extra := float64(posts) - m.s.Cost; extra > 0 {
			m.available(now)
			m.spend(extra)
		}
	}
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
	pp := p.plan(pl)
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
		key, ns := accountKey(account), now.UnixNano()
		st, _ := pp.states.get(key)
		st.next = max(st.next, ns) + int64(push)
		pp.states.put(key, st, ns)
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
	pp := p.plan(pl)
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
	pause := func() {
		key := accountKey(account)
		st, _ := pp.states.get(key)
		st.paused = max(st.paused, until.UnixNano())
		pp.states.put(key, st, now.UnixNano())
	}
	if per == PerAccount && account != "" {
		pause()
		return until
	}
	for _, m := range pp.app {
		if scope == "" || scope == string(PerApp) || m.s.Name == scope {
			m.paused = later(m.paused, until)
		}
	}
	for _, m := range pp.posts { // X's usage cap: fetches go on without posts
		if scope == string(PerApp) || m.s.Name == scope {
			m.paused = later(m.paused, until)
		}
	}
	if len(pp.app) == 0 && account != "" { // nothing app-wide to pause: pause the account
		pause()
	}
	return until
}

// Observe corrects the model with what the platform reported about one
// of its limits after a fetch of account (X's x-rate-limit-* headers,
// Meta's usage percentages): a limit nearly spent pauses exactly the scope
// it names (the account's own, or the app's) before the platform refuses
// a call. Nearly spent is fewer calls left than one fetch costs there, or
// a used share at or above 1 − Headroom/2 (99 %: the model plans for at
// most 98 %, so more means calls it did not count). The pause lasts until
// the platform's reset or, without one, until the share should be back
// under 1 − Headroom (the window's calls leaving it evenly), at least a
// minute. It returns when the pause ends; zero when there is none.
func (p *Planner) Observe(pl topics.Platform, account string, u topics.LimitUsage, now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := p.plan(pl)
	if pp == nil {
		return time.Time{}
	}
	per, cost, window := PerAccount, 1.0, time.Hour
	if u.Scope == topics.LimitScopeApp {
		per = PerApp
	}
	for _, s := range pp.lim.Scopes {
		if s.Name == u.Name && !s.PlanOnly {
			per, cost, window = s.Per, s.Cost, s.window()
		}
	}
	planned := 100 * (1 - pp.lim.Headroom)
	var wait time.Duration
	switch {
	case u.Remaining >= 0:
		if float64(u.Remaining) >= cost {
			return time.Time{}
		}
		wait = window / time.Duration(max(u.Limit, 1))
	case u.UsedPct >= 0:
		if float64(u.UsedPct) < 100*(1-pp.lim.Headroom/2) {
			return time.Time{}
		}
		wait = time.Duration(float64(window) * (float64(u.UsedPct) - planned) / float64(u.UsedPct))
	default:
		return time.Time{}
	}
	until := now.Add(max(wait, time.Minute))
	if u.Reset.After(now) {
		until = u.Reset
	}
	pp.slowed++
	if per == PerAccount {
		if account == "" {
			return time.Time{}
		}
		key := accountKey(account)
		st, _ := pp.states.get(key)
		st.paused = max(st.paused, until.UnixNano())
		pp.states.put(key, st, now.UnixNano())
		return until
	}
	named := false
	for _, m := range pp.app {
		if m.s.Name == u.Name {
			m.paused, named = later(m.paused, until), true
		}
	}
	if !named { // an app-wide limit the model does not know: every app scope
		for _, m := range pp.app {
			m.paused = later(m.paused, until)
		}
	}
	return until
}

// PausedUntil returns when the app-wide pause of pl ends (zero: none) and
// when account's ends.
func (p *Planner) PausedUntil(pl topics.Platform, account string) (app, acct time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := p.plan(pl)
	if pp == nil {
		return time.Time{}, time.Time{}
	}
	for _, m := range pp.app {
		app = later(app, m.paused)
	}
	if st, ok := pp.states.get(accountKey(account)); ok && st.paused != 0 {
		acct = time.Unix(0, st.paused).UTC()
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
	pp := p.plan(pl)
	if pp == nil {
		iv := time.Hour
		next := now.Truncate(iv).Add(slot(account, iv))
		if !next.After(now) {
			next = next.Add(iv)
		}
		return next
	}
	return time.Unix(0, pp.nextDue(accountKey(account), now.UnixNano())).UTC()
}

// nextDue is NextDue of the account whose accountKey is key, fetched at ns,
// in Unix ns: the first time at the account's slot of an Interval (an
// Interval starting where time.Truncate starts it, at a multiple of it
// since the zero Time; phase is the Unix epoch's offset into one) after
// ns plus the spacing.
func (pp *platformPlan) nextDue(key uint64, ns int64) int64 {
	iv := int64(pp.lim.Interval)
	off := (ns%iv + pp.phase) % iv
	if off < 0 {
		off += iv
	}
	next := ns - off + int64(key%uint64(iv))
	if after := ns + int64(pp.spacing); next <= after {
		next += ((after-next)/iv + 1) * iv
	}
	return next
}

// Slot returns account's stable offset within pl's Interval, at which
// NextDue schedules it, and the Interval.
func (p *Planner) Slot(pl topics.Platform, account string) (offset, interval time.Duration) {
	iv := time.Hour
	if pp := p.plan(pl); pp != nil {
		iv = pp.lim.Interval
	}
	return slot(account, iv), iv
}

func slot(account string, iv time.Duration) time.Duration {
	return time.Duration(accountKey(account) % uint64(iv))
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
	// Slowed counts the pauses usage reports caused (Observe).
	Slowed int64
	// PostsSkipped counts the fetches admitted without their posts.
	PostsSkipped int64
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
		pp := p.plan(pl)
		constrained := pp.states.constraining(now.UnixNano())
		plats[pl] = PlatformStats{Emitted: pp.emitted, Deferred: pp.deferred, Throttled: pp.throttled, Slowed: pp.slowed, PostsSkipped: pp.skipped,
			Accounts: pp.accounts, Constrained: constrained}
		for _, m := range slices.Concat(pp.app, pp.posts) {
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
