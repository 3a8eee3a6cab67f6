// Package vsim runs the real scheduler (claims, budgets, spacing, feedback)
// over many links on a virtual clock, against the simulator's rate limits:
// each emitted request is fetched virtually, its calls counted by a
// sim.Meterer on the platform's endpoints (so the simulator, not the
// scheduler, counts limit breaches), and its outcome applied. It reports
// staleness, breaches, the share of the binding budget used and the CPU
// time spent.
package vsim

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

// Endpoints are the simulator's endpoint names a fetch of each platform
// calls once each (one page of posts), in order.
var Endpoints = map[topics.Platform][]string{
	topics.X:         {sim.XEndpointUsersMe, sim.XEndpointUserTweets},
	topics.Facebook:  {sim.MetaEndpointAccounts, sim.FacebookEndpointPage, sim.FacebookEndpointPosts},
	topics.Instagram: {sim.MetaEndpointAccounts, sim.InstagramEndpointUser, sim.InstagramEndpointMedia},
	topics.LinkedIn: {sim.LinkedInEndpointACLs, sim.LinkedInEndpointOrganization, sim.LinkedInEndpointNetworkSizes,
		sim.LinkedInEndpointPosts, sim.LinkedInEndpointShareStatistics},
}

// postsFrom is the index in Endpoints of each platform's first posts
// call: a fetch that skips its posts makes the calls before it.
var postsFrom = map[topics.Platform]int{topics.X: 1, topics.Facebook: 2, topics.Instagram: 2, topics.LinkedIn: 3}

// The cost model of a fetch's posts (see scheduler.PostsWindow): a read
// from the account's cursor reads one page (an account posts
// DefaultPostsPerDay, a few an hour at most); a re-read of the last 7 or
// 30 days reads that many days' posts, in pages; a full read (no cursor)
// reads MaxPostPages pages. Each page beyond the first calls the posts
// endpoints once more (LinkedIn: posts and their statistics), and X
// meters the posts read.
const (
	// DefaultPostsPerDay is Config.PostsPerDay's default: the scheduler's
	// assumption (the simulator's accounts post every 2 to 8 hours).
	DefaultPostsPerDay = scheduler.PostsPerDay
	// fullPages is a full read's pages: the connectors' default
	// MaxPostPages.
	fullPages = 5
)

// Config configures a run.
type Config struct {
	// Links per platform.
	Links map[topics.Platform]int
	// SharedEvery: every SharedEvery-th link of a platform is another
	// user's link to the previous link's account. 0: no sharing.
	SharedEvery int
	// Duration of simulated time. Default 48h.
	Duration time.Duration
	// Warmup is the simulated time before staleness is measured. Default
	// half of Duration.
	Warmup time.Duration
	// Start of simulated time. Default 2026-12-01T00:00:00Z (a UTC day
	// starts with the run).
	Start time.Time
	// Limits are the scheduler's. Default scheduler.DefaultLimits().
	Limits map[topics.Platform]scheduler.Limits
	// Sim configures the simulator's limits; Accounts, Clock and the Meta
	// app limits (200 × accounts an hour, Meta's formula, when left zero)
	// are set by Run.
	Sim sim.Config
	// RefreshesPerHour are refresh presses on random accounts. Default 0.
	RefreshesPerHour int
	// Seed makes the run reproducible.
	Seed uint64
	// Tick is the scheduler's virtual tick. Default 1s.
	Tick time.Duration
	// PostsPerDay is what each account publishes a day, for the cost of
	// the decaying refresh's re-reads. Default DefaultPostsPerDay.
	PostsPerDay int
	// FullPosts makes every fetch a full read of fullPages pages of posts
	// (scheduler.Config.FullPosts): the cost before incremental reads,
	// for comparison. Default false.
	FullPosts bool
}

// PlatformReport is one platform's figures.
type PlatformReport struct {
	Links, Accounts int
	Fetches         int64
	Refreshes       int64
	// PostsSkipped counts the fetches made without their posts (X's
	// monthly post cap had no room).
	PostsSkipped int64
	// Calls are the calls the fetches made (the simulator's count), and
	// Rereads the fetches that re-read 7 or 30 days of posts or made a
	// full read.
	Calls, Rereads int64
	// MaxStaleness and P99Staleness: the time since each link's account
	// was last fetched, sampled every 10 simulated minutes after Warmup,
	// over links.
	MaxStaleness, P99Staleness time.Duration
	// Breaches are the calls the simulator refused for an exhausted limit.
	Breaches int64
	// Binding is the app-wide scope whose budget binds (the most used), ""
	// when the platform has none.
	Binding string
	// BindingShare is the calls the simulator counted on the binding
	// scope's endpoint in the last full window of the run, over the
	// platform's limit for that window.
	BindingShare float64
	// DemandExceeds reports whether hourly fetches of every account need
	// more than the binding budget.
	DemandExceeds bool
}

// CallsPerFetch is the calls per successful fetch.
func (pr *PlatformReport) CallsPerFetch() float64 {
	if pr.Fetches == 0 {
		return 0
	}
	return float64(pr.Calls) / float64(pr.Fetches)
}

// Report is a run's figures.
type Report struct {
	Platforms map[topics.Platform]*PlatformReport
	Simulated time.Duration
	// CPU is the process's user+system CPU time (all threads, the garbage
	// collector's included) spent running the simulation: the scheduler,
	// and the simulator's side of each fetch (SimCPU); the setup and the
	// staleness sampling are excluded.
	CPU time.Duration
	// SimCPU is the part of CPU spent on the simulator's side of the
	// fetches: metering each fetch's calls against the simulator's limits,
	// recording it for staleness, and building its outcome. It is the
	// run's thread's CPU time over those steps (the run is locked to one
	// thread; they allocate nothing, so no garbage collection is theirs).
	SimCPU time.Duration
}

// SchedulerCPU is the CPU time spent in the scheduler: CPU less SimCPU.
// It includes the garbage collector's work and the MemStore (the store a
// deployment keeps in PostgreSQL).
func (r *Report) SchedulerCPU() time.Duration { return r.CPU - r.SimCPU }

// CPUPerDay is the process's CPU time per simulated day, the simulator's
// side included.
func (r *Report) CPUPerDay() time.Duration { return r.perDay(r.CPU) }

// SchedulerCPUPerDay is the scheduler's CPU time per simulated day.
func (r *Report) SchedulerCPUPerDay() time.Duration { return r.perDay(r.SchedulerCPU()) }

// SimCPUPerDay is the simulator's side's CPU time per simulated day.
func (r *Report) SimCPUPerDay() time.Duration { return r.perDay(r.SimCPU) }

func (r *Report) perDay(d time.Duration) time.Duration {
	return time.Duration(float64(d) * float64(24*time.Hour) / float64(r.Simulated))
}

// String formats the report as a table.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s %8s %8s %10s %10s %10s %9s %9s %9s %8s %-28s %7s %s\n", "platform", "links", "accounts", "fetches", "no posts", "re-reads", "calls/f", "max stale", "p99 stale", "breaches", "binding scope", "used", "demand>budget")
	for _, p := range slices.Sorted(mapsKeys(r.Platforms)) {
		pr := r.Platforms[p]
		fmt.Fprintf(&b, "%-10s %8d %8d %10d %10d %10d %9.2f %9s %9s %8d %-28s %6.1f%% %v\n", p, pr.Links, pr.Accounts, pr.Fetches, pr.PostsSkipped,
			pr.Rereads, pr.CallsPerFetch(),
			pr.MaxStaleness.Round(time.Minute), pr.P99Staleness.Round(time.Minute), pr.Breaches, pr.Binding, 100*pr.BindingShare, pr.DemandExceeds)
	}
	fmt.Fprintf(&b, "simulated %v; CPU per simulated day: scheduler %v, simulator's side %v, process %v (process CPU %v, GC included; setup and staleness sampling excluded)\n",
		r.Simulated, r.SchedulerCPUPerDay().Round(time.Millisecond), r.SimCPUPerDay().Round(time.Millisecond),
		r.CPUPerDay().Round(time.Millisecond), r.CPU.Round(time.Millisecond))
	return b.String()
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// run is one simulation's state.
type run struct {
	cfg     Config
	clock   *clock
	srv     *sim.Server
	store   *scheduler.MemStore
	sched   *scheduler.Scheduler
	meter   map[topics.Platform]*sim.Meterer
	last    map[topics.Platform][]int64 // per account: last successful fetch, Unix ns
	links   map[topics.Platform][]int32 // per account: links to it
	emitted []topics.FetchRequest       // the tick's requests, fetched once it ends
	outs    []topics.FetchOutcome       // reused: Apply keeps nothing
	rep     *Report
	// pageSize is the posts a page of each platform's posts call holds:
	// its Limits' PostsPageSize (the default limits' when not set).
	pageSize map[topics.Platform]int
}

// accountID is the id of a platform's i-th simulated account.
func accountID(p topics.Platform, i int) string { return string(p) + "-" + strconv.Itoa(i) }

// accountRank returns the number of a link's account: the link id is
// "<platform>-<number>-l<link>".
func accountRank(linkID string) int {
	i := strings.IndexByte(linkID, '-') + 1
	n := 0
	for ; i < len(linkID) && linkID[i] >= '0' && linkID[i] <= '9'; i++ {
		n = n*10 + int(linkID[i]-'0')
	}
	return n
}

// Run runs the simulation.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Duration <= 0 {
		cfg.Duration = 48 * time.Hour
	}
	if cfg.Warmup <= 0 {
		cfg.Warmup = cfg.Duration / 2
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	}
	if cfg.Limits == nil {
		cfg.Limits = scheduler.DefaultLimits()
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.PostsPerDay <= 0 {
		cfg.PostsPerDay = DefaultPostsPerDay
	}
	r := &run{cfg: cfg, clock: &clock{t: cfg.Start}, store: scheduler.NewMemStore(),
		last: map[topics.Platform][]int64{}, links: map[topics.Platform][]int32{}, meter: map[topics.Platform]*sim.Meterer{},
		rep: &Report{Platforms: map[topics.Platform]*PlatformReport{}}}
	r.pageSize = map[topics.Platform]int{}
	for p, l := range scheduler.DefaultLimits() {
		r.pageSize[p] = l.PostsPageSize
		if n := cfg.Limits[p].PostsPageSize; n > 0 {
			r.pageSize[p] = n
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 1))

	// Links: each account due at its slot of the first Interval (as if it
	// had been fetched one Interval before), so the run starts in steady
	// state. Accounts are added to the store, and numbered, in slot order:
	// the order the scheduler visits them every Interval, so the
	// simulation's memory is read in order (the link ids carry the number).
	slots, err := scheduler.NewPlanner(cfg.Limits)
	if err != nil {
		return nil, err
	}
	// Platforms in order: they draw from one random source.
	for _, p := range slices.Sorted(mapsKeys(cfg.Links)) {
		n := cfg.Links[p]
		pr := &PlatformReport{Links: n}
		r.rep.Platforms[p] = pr
		var perAcct []int32 // links per account, by k
		for i := range n {
			if len(perAcct) == 0 || cfg.SharedEvery <= 0 || i%cfg.SharedEvery != 0 {
				perAcct = append(perAcct, 0)
			}
			perAcct[len(perAcct)-1]++
		}
		type acct struct {
			k    int
			slot time.Duration
		}
		order := make([]acct, len(perAcct))
		var iv time.Duration
		for k := range order {
			order[k].k = k
			order[k].slot, iv = slots.Slot(p, accountID(p, k))
		}
		slices.SortFunc(order, func(a, b acct) int { return cmp.Or(cmp.Compare(a.slot, b.slot), cmp.Compare(a.k, b.k)) })
		r.last[p] = make([]int64, len(order))
		r.links[p] = make([]int32, len(order))
		link := 0
		for rank, a := range order {
			due := cfg.Start.Add(a.slot)
			r.last[p][rank] = due.Add(-iv).UnixNano()
			r.links[p][rank] = perAcct[a.k]
			for range perAcct[a.k] {
				r.store.AddLink(p, accountID(p, a.k), string(p)+"-"+strconv.Itoa(rank)+"-l"+strconv.Itoa(link), "u"+strconv.Itoa(link), due)
				link++
			}
			// Read before, from a cursor, its re-reads spread over their
			// periods: the steady state of the decaying refresh.
			id := accountID(p, a.k)
			r.store.MarkPostsRead(p, id, pulse.PostsRead{Cursor: "c", Days: topics.RecentDays,
				At: cfg.Start.Add(-time.Duration(rng.Int64N(int64(scheduler.MonthRereadEvery))))})
			r.store.MarkPostsRead(p, id, pulse.PostsRead{Days: 7,
				At: cfg.Start.Add(-time.Duration(rng.Int64N(int64(scheduler.WeekRereadEvery))))})
		}
		pr.Accounts = len(order)
	}

	sc := cfg.Sim
	sc.Clock = r.clock.now
	sc.Accounts = 1
	if sc.Facebook.App.Requests == 0 {
		sc.Facebook.App = sim.Limit{Requests: sim.DefaultMetaAppCallsPerAccount * max(1, r.accounts(topics.Facebook)), Window: sim.MetaUsageWindow}
	}
	if sc.Instagram.App.Requests == 0 {
		sc.Instagram.App = sim.Limit{Requests: sim.DefaultMetaAppCallsPerAccount * max(1, r.accounts(topics.Instagram)), Window: sim.MetaUsageWindow}
	}
	if r.srv, err = sim.New(sc); err != nil {
		return nil, err
	}
	limits := map[topics.Platform]scheduler.Limits{}
	for p := range cfg.Links {
		limits[p] = cfg.Limits[p]
		if r.meter[p], err = r.srv.NewMeterer(p, "pulse", Endpoints[p]); err != nil {
			return nil, err
		}
	}
	r.sched, err = scheduler.New(scheduler.Config{Emitter: r, Store: r.store, Limits: limits, Clock: r.clock.now, MaxPerTick: 5000,
		FullPosts: cfg.FullPosts,
		Logger:    slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}

	// One thread runs the simulation, so the thread's CPU clock times the
	// simulator's side of each fetch (Report.SimCPU).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var (
		cpu       time.Duration
		samples   = map[topics.Platform]*hist{}
		snapshots []sim.Stats
		snapAt    []time.Time
	)
	for p := range cfg.Links {
		samples[p] = &hist{}
	}
	end := cfg.Start.Add(cfg.Duration)
	nextSample := cfg.Start.Add(cfg.Warmup)
	pressEvery := time.Duration(0)
	if cfg.RefreshesPerHour > 0 {
		pressEvery = time.Hour / time.Duration(cfg.RefreshesPerHour)
	}
	nextPress := cfg.Start
	plats := slices.Sorted(mapsKeys(cfg.Links))
	for hour := 0; ; hour++ {
		// Snapshots of the simulator's counters at each hour, for the
		// binding share.
		snapshots = append(snapshots, r.srv.Stats())
		snapAt = append(snapAt, r.clock.t)
		if !r.clock.t.Before(end) {
			break
		}
		hourEnd := r.clock.t.Add(time.Hour)
		c0 := cpuTime()
		for r.clock.t.Before(hourEnd) {
			for pressEvery > 0 && !nextPress.After(r.clock.t) {
				p := plats[rng.IntN(len(plats))]
				if n := r.accounts(p); n > 0 {
					if err := r.store.RequestRefresh(p, accountID(p, rng.IntN(n)), r.clock.t); err != nil {
						return nil, err
					}
					r.rep.Platforms[p].Refreshes++
				}
				nextPress = nextPress.Add(pressEvery)
			}
			if err := r.sched.RunOnce(ctx); err != nil {
				return nil, err
			}
			if err := r.fetch(ctx); err != nil {
				return nil, err
			}
			if !r.clock.t.Before(nextSample) {
				cpu += cpuTime() - c0
				r.sample(samples)
				nextSample = nextSample.Add(10 * time.Minute)
				c0 = cpuTime()
			}
			r.clock.t = r.clock.t.Add(cfg.Tick)
		}
		cpu += cpuTime() - c0
	}
	r.rep.CPU = cpu
	r.rep.Simulated = cfg.Duration
	final := snapshots[len(snapshots)-1]
	for p, pr := range r.rep.Platforms {
		pr.Breaches = final.Platforms[p].LimitBreaches
		pr.MaxStaleness, pr.P99Staleness = samples[p].max, samples[p].quantile(0.99)
		r.binding(p, pr, snapshots, snapAt)
	}
	return r.rep, nil
}

func (r *run) accounts(p topics.Platform) int { return len(r.last[p]) }

// Emit implements scheduler.Emitter: the requests are kept (copied: the
// scheduler reuses them) and fetched when the tick ends.
func (r *run) Emit(ctx context.Context, reqs []*topics.FetchRequest) error {
	for _, req := range reqs {
		r.emitted = append(r.emitted, *req)
	}
	return nil
}

// fetch fetches the tick's requests at once: their calls are metered by
// the simulator and their outcomes applied. The first part is the
// simulator's side, timed as Report.SimCPU; Apply is the scheduler's.
func (r *run) fetch(ctx context.Context) error {
	if len(r.emitted) == 0 {
		return nil
	}
	t0 := threadCPU()
	reqs := r.emitted
	r.emitted = r.emitted[:0]
	now := r.clock.t
	nowNS := now.UnixNano()
	if cap(r.outs) < len(reqs) {
		r.outs = make([]topics.FetchOutcome, len(reqs))
	}
	outs := r.outs[:len(reqs)]
	var (
		p              topics.Platform
		meter          *sim.Meterer
		last           []int64
		pr             *PlatformReport
		calls, postsAt int
	)
	for k := range reqs {
		req := &reqs[k]
		if req.Platform != p || meter == nil {
			p = req.Platform
			meter, last, pr = r.meter[p], r.last[p], r.rep.Platforms[p]
			calls, postsAt = len(Endpoints[p]), postsFrom[p]
		}
		acct := accountRank(req.LinkID)
		n := calls
		pages, posts, days := r.postsCost(p, req)
		if req.SkipPosts {
			n = postsAt
			pr.PostsSkipped++
			pages, posts = 0, 0
		}
		made, refused, _ := meter.FetchFirst(acct, n)
		for i := 1; i < pages && refused == ""; i++ {
			c, ref, _ := meter.FetchRange(acct, postsAt, calls)
			made, refused = made+c, ref
		}
		pr.Calls += int64(made)
		o := &outs[k]
		*o = topics.FetchOutcome{RequestID: req.ID, LinkID: req.LinkID, UserID: req.UserID, Platform: p,
			AccountID: req.AccountID, Outcome: topics.OutcomeOK, Remaining: -1, At: now, PostPages: pages, Calls: made,
			Incremental: req.PostsSince != "" && !req.SkipPosts, RefreshDays: days}
		if p == topics.X {
			o.PostsRead = posts
		}
		if refused != "" {
			// The scheduler pauses the app when a 429 does not say whose
			// limit it was, the safe reading.
			o.Outcome = topics.OutcomeThrottled
			o.RetryAfter = now.Add(15 * time.Minute)
		} else {
			last[acct] = nowNS
			pr.Fetches++
			if days > 0 {
				// The fetcher's record; a read of new posts only changes
				// nothing (the cursor model is one opaque value).
				pr.Rereads++
				r.store.MarkPostsRead(p, req.AccountID, pulse.PostsRead{Cursor: "c", Days: days, At: now})
			}
		}
	}
	r.rep.SimCPU += threadCPU() - t0
	for k := range outs {
		if err := r.sched.Apply(ctx, &outs[k]); err != nil {
			return err
		}
	}
	return nil
}

// postsCost returns the posts pages a fetch of p for req reads, the
// posts it reads and the days of posts it re-reads (topics.RecentDays for
// a full read), by the cost model above.
func (r *run) postsCost(p topics.Platform, req *topics.FetchRequest) (pages, posts, days int) {
	switch {
	case req.PostsSince == "":
		return fullPages, fullPages * r.pageSize[p], topics.RecentDays
	case req.RefreshDays > 0:
		posts = r.cfg.PostsPerDay * req.RefreshDays
		return max(1, (posts+r.pageSize[p]-1)/r.pageSize[p]), posts, req.RefreshDays
	}
	return 1, scheduler.XPostsPerFetch, 0
}

// sample adds every link's staleness now.
func (r *run) sample(h map[topics.Platform]*hist) {
	now := r.clock.t.UnixNano()
	for p, last := range r.last {
		hp, links := h[p], r.links[p]
		for i, t := range last {
			hp.add(time.Duration(now-t), int64(links[i]))
		}
	}
}

// binding finds the platform's most used app-wide scope and the share of
// its limit used in the last full window of the run.
func (r *run) binding(p topics.Platform, pr *PlatformReport, snaps []sim.Stats, at []time.Time) {
	l := r.cfg.Limits[p]
	var best float64
	for _, s := range l.Scopes {
		if s.Per != scheduler.PerApp || s.PlanOnly || s.SkipPosts {
			continue
		}
		win := s.Window
		n := int(win / time.Hour)
		if n < 1 || n >= len(snaps) {
			continue
		}
		endpoint := ""
		for _, e := range Endpoints[p] {
			if strings.HasPrefix(s.Name, e+" ") {
				endpoint = e
			}
		}
		last := len(snaps) - 1
		// The last full window: aligned windows start at multiples of win.
		first := last - n
		if s.Kind == scheduler.Aligned {
			for first > 0 && !at[first].Equal(at[first].Truncate(win)) {
				first--
			}
			last = first + n
		}
		calls := func(st sim.Stats) int64 {
			ps := st.Platforms[p]
			if endpoint != "" {
				return ps.Endpoints[endpoint].Requests
			}
			return ps.Requests
		}
		limit := s.LimitFor(pr.Accounts)
		share := float64(calls(snaps[last])-calls(snaps[first])) / limit
		if share >= best {
			best = share
			pr.Binding, pr.BindingShare = s.Name, share
			perWindow := float64(pr.Accounts) * s.Cost * float64(win) / float64(l.Interval)
			if l.Interval == 0 {
				perWindow = float64(pr.Accounts) * s.Cost * float64(win) / float64(time.Hour)
			}
			pr.DemandExceeds = perWindow > limit
		}
	}
}

// hist is a histogram of durations by the minute.
type hist struct {
	counts []int64
	total  int64
	max    time.Duration
}

func (h *hist) add(d time.Duration, weight int64) {
	if d < 0 {
		d = 0
	}
	m := int(d / time.Minute)
	for m >= len(h.counts) {
		h.counts = append(h.counts, make([]int64, max(64, len(h.counts)))...)
	}
	h.counts[m] += weight
	h.total += weight
	h.max = max(h.max, d)
}

func (h *hist) quantile(q float64) time.Duration {
	want := int64(q * float64(h.total))
	var seen int64
	for m, c := range h.counts {
		seen += c
		if seen >= want && c > 0 {
			return time.Duration(m+1) * time.Minute
		}
	}
	return h.max
}

// threadCPU is the calling thread's CPU time.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
