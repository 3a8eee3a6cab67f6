// Package scheduler emits fetch requests for linked accounts: each platform
// account every Interval (an hour by default) where the platform's limits
// allow, refresh presses first, and never more calls than the platform
// meters allow (see Limits and docs/rate-limits.md).
//
// The scheduling unit is the platform account: several Pulse users who
// linked the same account share one fetch per due time, delivered to each
// of their links. The budget model is a Planner, in memory and driven by
// the time it is given; the due times live in a Store (PostgreSQL, or a
// MemStore for virtual-time simulations). Every fetch's calls are spent
// from each scope it touches before its request enters Kafka; accounts the
// per-account limits do not allow yet are deferred without spending.
//
// The scheduler reads the fetchers' outcomes: a throttled fetch pauses the
// scope the platform named (one account, or the app) until its reset; a
// transient failure makes the account due after RetryDelay; posts pages
// beyond the first are charged to the scopes when reported.
//
// Budgets are app-wide, so run one scheduler per Pulse deployment: two
// would each spend the whole budget.
package scheduler

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/topics"
)

// Emitter delivers fetch requests; the Kafka producer for real, a virtual
// fetcher in simulations.
type Emitter interface {
	// Emit delivers reqs and returns once they are durable. The scheduler
	// reuses the requests after Emit returns: Emit must not keep reqs or
	// the requests (copy what it keeps).
	Emit(ctx context.Context, reqs []*topics.FetchRequest) error
}

// Config configures a Scheduler.
type Config struct {
	// Brokers to produce to and read fetch outcomes from. Required unless
	// Emitter is set.
	Brokers []string
	// Emitter replaces the Kafka producer (simulations). Run then reads no
	// fetch outcomes: give them to Apply.
	Emitter Emitter
	// Store is the due-time store. Required.
	Store Store
	// Limits per platform. Default DefaultLimits(); a platform without
	// limits is not scheduled.
	Limits map[topics.Platform]Limits
	// Tick is how often due accounts are looked for when the store does
	// not wake the scheduler sooner (Waker). Default 1s.
	Tick time.Duration
	// Lease is how long a claimed account stays claimed if emitting fails
	// (it is then due again). Default 1 minute.
	Lease time.Duration
	// RetryDelay is when an account whose fetch failed transiently is due
	// again. Default 5 minutes.
	RetryDelay time.Duration
	// MaxPerTick caps the fetches of one platform per tick. Default 1000.
	MaxPerTick int
	// RecountEvery is how often the linked accounts are counted, for
	// limits that grow with users. Default 1 minute.
	RecountEvery time.Duration
	// FeedbackGroup is the consumer group reading fetch outcomes. Default
	// "pulse-scheduler".
	FeedbackGroup string
	// FullPosts makes every fetch read the platform's default window of
	// posts, without the incremental cursor or the decaying refresh (see
	// PostsWindow): the behaviour before incremental reads, for
	// comparisons. Default false.
	FullPosts bool
	// Jobs, when set, is told what becomes of refresh presses (see Jobs).
	// Default nil: nothing is reported.
	Jobs Jobs
	// Clock defaults to time.Now.
	Clock func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// ClientOptions are extra franz-go options.
	ClientOptions []kgo.Opt
}

// Scheduler emits FetchRequests.
type Scheduler struct {
	cfg     Config
	planner *Planner
	emitter Emitter
	cl      *kgo.Client // nil with Config.Emitter
	log     *slog.Logger
	wake    chan struct{}
	jobs    *jobTracker // nil without Config.Jobs

	plats []topics.Platform // the planned platforms, sorted

	// runMu serializes RunOnce and guards its reused buffers.
	runMu sync.Mutex
	pool  []topics.FetchRequest // requests, reused once emitted
	reqs  []*topics.FetchRequest
	next  []Next
	due   []Due
	decs  []Decision
	track []tracked

	mu         sync.Mutex // guards the fields below
	emitted    map[topics.Platform]int64
	deferredTo time.Time // the earliest due time of an account deferred since Run last looked
	recounted  time.Time
	ids        *rand.ChaCha8 // request ids: random, without a syscall each
}

// New validates cfg and builds a Scheduler.
func New(cfg Config) (*Scheduler, error) {
	if len(cfg.Brokers) == 0 && cfg.Emitter == nil {
		return nil, errors.New("scheduler: no brokers")
	}
	if cfg.Store == nil {
		return nil, errors.New("scheduler: no store")
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 5 * time.Minute
	}
	if cfg.MaxPerTick <= 0 {
		cfg.MaxPerTick = 1000
	}
	if cfg.RecountEvery <= 0 {
		cfg.RecountEvery = time.Minute
	}
	if cfg.FeedbackGroup == "" {
		cfg.FeedbackGroup = "pulse-scheduler"
	}
	if cfg.Limits == nil {
		cfg.Limits = DefaultLimits()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	pl, err := NewPlanner(cfg.Limits)
	if err != nil {
		return nil, err
	}
	s := &Scheduler{cfg: cfg, planner: pl, emitter: cfg.Emitter, log: cfg.Logger,
		wake: make(chan struct{}, 1), emitted: map[topics.Platform]int64{}, plats: pl.Platforms()}
	s.jobs = newJobTracker(cfg.Jobs, cfg.Logger)
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("scheduler: seed: %w", err)
	}
	s.ids = rand.NewChaCha8(seed)
	if s.emitter == nil {
		cl, err := kafka.NewClient(cfg.Brokers, cfg.ClientOptions...)
		if err != nil {
			return nil, fmt.Errorf("scheduler: %w", err)
		}
		s.cl = cl
		s.emitter = kafkaEmitter{cl}
	}
	return s, nil
}

// Planner returns the scheduler's budget model (stats, throttles).
func (s *Scheduler) Planner() *Planner { return s.planner }

type kafkaEmitter struct{ cl *kgo.Client }

func (k kafkaEmitter) Emit(ctx context.Context, reqs []*topics.FetchRequest) error {
	recs := make([]*kgo.Record, 0, len(reqs))
	for _, r := range reqs {
		b, err := topics.FetchRequestCodec.Marshal(r)
		if err != nil {
			return err
		}
		recs = append(recs, &kgo.Record{Topic: topics.FetchRequests, Key: []byte(r.LinkID), Value: b})
	}
	if err := k.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("scheduler: produce: %w", err)
	}
	return nil
}

// Wake makes Run look for due accounts now instead of at the next Tick.
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run emits due fetch requests every Tick, or at once when the store
// (a Waker) or Wake signals a change, and applies fetch outcomes, until
// ctx is cancelled.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.cl != nil {
		defer s.cl.Close()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.cl != nil {
		fb, err := kafka.NewClient(s.cfg.Brokers, append([]kgo.Opt{
			kgo.ConsumerGroup(s.cfg.FeedbackGroup),
			kgo.ConsumeTopics(topics.FetchOutcomes),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		}, s.cfg.ClientOptions...)...)
		if err != nil {
			return fmt.Errorf("scheduler: feedback: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer fb.Close()
			s.feedback(ctx, fb)
		}()
	}
	if w, ok := s.cfg.Store.(Waker); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := w.Watch(ctx, s.Wake); err != nil && ctx.Err() == nil {
					// The poll keeps scheduling meanwhile.
					s.log.Warn("scheduler: watching for due links failed; polling", "err", err)
					select {
					case <-ctx.Done():
					case <-time.After(5 * time.Second):
					}
				}
			}
		}()
	}

	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		if err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduler: tick failed", "err", err)
		}
		// An account deferred for its spacing is due before the next tick
		// may come: wake for it (a refresh pressed just after a fetch).
		var soon <-chan time.Time
		var timer *time.Timer
		if at := s.takeDeferred(); !at.IsZero() {
			if d := at.Sub(s.cfg.Clock()); d < s.cfg.Tick {
				timer = time.NewTimer(max(d, 0))
				soon = timer.C
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		case <-soon:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// takeDeferred returns the earliest time an account was deferred to
// since the last call (zero: none), and forgets it.
func (s *Scheduler) takeDeferred() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := s.deferredTo
	s.deferredTo = time.Time{}
	return at
}

func (s *Scheduler) feedback(ctx context.Context, fb *kgo.Client) {
	for {
		fetches := fb.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fetches.EachRecord(func(r *kgo.Record) {
			o, err := topics.FetchOutcomeCodec.Unmarshal(r.Value)
			if err != nil {
				s.log.Warn("scheduler: undecodable fetch outcome", "offset", r.Offset, "err", err)
				return
			}
			if err := s.Apply(ctx, o); err != nil && ctx.Err() == nil {
				s.log.Warn("scheduler: apply fetch outcome", "link", o.LinkID, "err", err)
			}
		})
	}
}

// Apply acts on one fetch outcome: the usage the platform reported
// corrects the model (a limit nearly spent pauses its scope, see
// Planner.Observe); a throttled fetch pauses the scope the platform named
// until its reset (see Planner.Throttled) and makes the account due then;
// a transient failure makes it due after RetryDelay; a fetch that read
// several posts pages is charged for them, and its posts read from the
// posts scopes. Other outcomes need no scheduling change.
func (s *Scheduler) Apply(ctx context.Context, o *topics.FetchOutcome) error {
	now := s.cfg.Clock()
	for _, u := range o.Usage {
		if until := s.planner.Observe(o.Platform, o.AccountID, u, now); !until.IsZero() {
			s.log.Info("scheduler: limit nearly spent; pausing", "platform", o.Platform, "scope", u.Name, "until", until)
		}
	}
	switch o.Outcome {
	case topics.OutcomeThrottled:
		until := s.planner.Throttled(o.Platform, o.AccountID, o.LimitScope, o.RetryAfter, now)
		s.log.Info("scheduler: throttled; pausing", "platform", o.Platform, "scope", o.LimitScope, "until", until)
		if o.AccountID == "" {
			s.jobs.outcome(ctx, o, time.Time{})
			return nil
		}
		s.jobs.outcome(ctx, o, until)
		return s.cfg.Store.Reschedule(ctx, o.Platform, []Next{{AccountID: o.AccountID, At: until}})
	case topics.OutcomeTransient:
		if o.AccountID == "" {
			s.jobs.outcome(ctx, o, time.Time{})
			return nil
		}
		s.jobs.outcome(ctx, o, now.Add(s.cfg.RetryDelay))
		return s.cfg.Store.Reschedule(ctx, o.Platform, []Next{{AccountID: o.AccountID, At: now.Add(s.cfg.RetryDelay)}})
	case topics.OutcomeOK:
		s.jobs.outcome(ctx, o, time.Time{})
		s.planner.Charge(o.Platform, o.AccountID, o.PostPages, now)
		s.planner.ChargePosts(o.Platform, o.PostsRead, now)
	default:
		s.jobs.outcome(ctx, o, time.Time{})
	}
	return nil
}

// RunOnce emits the fetch requests that are due now and within every
// scope's budget, and returns once they are delivered. Calls are
// serialized.
func (s *Scheduler) RunOnce(ctx context.Context) error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	now := s.cfg.Clock()
	var errs []error
	s.recount(ctx, now)
	for _, p := range s.plats {
		if err := s.platformOnce(ctx, p, now); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// recount refreshes the planner's account counts every RecountEvery.
func (s *Scheduler) recount(ctx context.Context, now time.Time) {
	s.mu.Lock()
	due := s.recounted.IsZero() || now.Sub(s.recounted) >= s.cfg.RecountEvery
	if due {
		s.recounted = now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	for _, p := range s.plats {
		n, err := s.cfg.Store.CountAccounts(ctx, p)
		if err != nil {
			s.log.Warn("scheduler: count accounts", "platform", p, "err", err)
			continue
		}
		s.planner.SetAccounts(p, n)
	}
}

// platformOnce claims and emits p's due accounts while the budget allows.
// Deferred accounts spend nothing, so the tick claims again (a few
// rounds at most) until the budget or the due accounts run out.
func (s *Scheduler) platformOnce(ctx context.Context, p topics.Platform, now time.Time) error {
	left := s.cfg.MaxPerTick
	for round := 0; round < 4 && left > 0; round++ {
		n := s.planner.Affordable(p, now, left)
		if n == 0 {
			return nil
		}
		var (
			due []Due
			err error
		)
		if da, ok := s.cfg.Store.(DueAppender); ok {
			due, err = da.ClaimDueAppend(ctx, p, now, n, s.cfg.Lease, s.due[:0])
			s.due = due
		} else {
			due, err = s.cfg.Store.ClaimDue(ctx, p, now, n, s.cfg.Lease)
		}
		if err != nil {
			return err
		}
		if len(s.pool) < len(due) {
			s.pool = make([]topics.FetchRequest, len(due))
		}
		decs := s.planner.AdmitDue(p, due, now, s.decs[:0])
		s.decs = decs
		ids := s.newIDs(len(due))
		reqs, next, track := s.reqs[:0], s.next[:0], s.track[:0]
		nowUTC := now.UTC()
		postsRoom := math.NaN() // the posts scopes' room for re-reads: looked up at the first one
		for k := range due {
			d := &due[k]
			if len(d.Links) == 0 {
				continue
			}
			a := &decs[k]
			if !a.OK {
				// Too soon for the account's own limits: due as soon as they
				// allow, its refresh request still pending.
				at := a.At
				next = append(next, Next{AccountID: d.AccountID, At: at, Claimed: now, Key: d.Key})
				s.mu.Lock()
				if s.deferredTo.IsZero() || at.Before(s.deferredTo) {
					s.deferredTo = at
				}
				s.mu.Unlock()
				if s.jobs != nil && s.jobs.wants(p, *d) {
					s.jobs.deferred(ctx, s.planner, p, *d, at, now)
				}
				continue
			}
			req := &s.pool[len(reqs)]
			request(req, p, d, ids[uuidLen*k:uuidLen*(k+1)], nowUTC, s.cfg.FullPosts)
			req.SkipPosts = a.SkipPosts
			if req.RefreshDays > 0 && !req.SkipPosts {
				// New posts come first: a re-read waits for room in the
				// posts scopes (X's monthly cap) for its days of posts.
				if math.IsNaN(postsRoom) {
					postsRoom = s.planner.PostsRoom(p, now)
				}
				if need := float64(req.RefreshDays * PostsPerDay); postsRoom < need {
					req.RefreshDays = 0
				} else {
					postsRoom -= need
				}
			}
			reqs = append(reqs, req)
			if s.jobs != nil && s.jobs.wants(p, *d) {
				track = append(track, trackDue(p, *d, req.ID))
			}
			next = append(next, Next{AccountID: d.AccountID, At: a.Next, Served: d.RefreshAt, Claimed: now, Key: d.Key})
		}
		if len(reqs) > 0 {
			if err := s.emitter.Emit(ctx, reqs); err != nil {
				// The claim's lease makes them due again shortly.
				return err
			}
			s.mu.Lock()
			s.emitted[p] += int64(len(reqs))
			s.mu.Unlock()
			s.jobs.fetching(ctx, track, now)
		}
		s.reqs, s.next, s.track = reqs, next, track
		if err := s.cfg.Store.Reschedule(ctx, p, next); err != nil {
			return err
		}
		left -= len(reqs)
		if len(due) < n {
			return nil
		}
	}
	return nil
}

// request fills req for a fetch of d, with id, at now (UTC), reading
// the posts window of d.Posts unless fullPosts. It keeps req.AlsoFor's
// array (the emitter keeps no request).
func request(req *topics.FetchRequest, p topics.Platform, d *Due, id string, now time.Time, fullPosts bool) {
	first := d.Links[0]
	reason := topics.ReasonScheduled
	switch {
	case !d.RefreshAt.IsZero():
		reason = topics.ReasonOnDemand
	case first.LastFetchedAt.IsZero():
		reason = topics.ReasonInitial
	}
	also := req.AlsoFor[:0]
	*req = topics.FetchRequest{
		ID: id, LinkID: first.LinkID, UserID: first.UserID, Platform: p,
		Reason: reason, RequestedAt: now, AccountID: d.AccountID,
	}
	if !fullPosts && d.Posts.Cursor != "" {
		req.PostsSince, req.RefreshDays = PostsWindow(d.Posts, now)
	}
	for _, l := range d.Links[1:] {
		also = append(also, topics.LinkRef{LinkID: l.LinkID, UserID: l.UserID})
	}
	if len(also) > 0 {
		req.AlsoFor = also
	}
}

// The decaying refresh of older posts' engagement: a fetch reads only the
// posts newer than its account's cursor, except that the posts of the
// last 7 days are all re-read once every WeekRereadEvery and those of the
// last 30 days once every MonthRereadEvery. A post's counters are thus
// refreshed at every fetch while it is newest, daily in its first week,
// weekly until it is 30 days old, then never (engagement has settled by
// then; the 30-day aggregates no longer count it).
//
// Where a platform meters the posts read (X's monthly cap, a posts scope),
// new posts come first: a re-read is made only when the scope has room
// for PostsPerDay posts a day of it beyond the fetch's own, else it waits
// for a later fetch.
const (
	WeekRereadEvery  = 24 * time.Hour
	MonthRereadEvery = 7 * 24 * time.Hour
)

// PostsPerDay is the posts an account is assumed to publish a day, for
// the posts a re-read costs.
const PostsPerDay = 5

// PostsWindow returns what a fetch at now of an account whose posts reads
// stand at st reads: the cursor to start from ("": a full read of the
// platform's default window, for an account with a link never read) and
// how many days of posts to re-read (7, topics.RecentDays or 0, see
// WeekRereadEvery).
func PostsWindow(st pulse.PostsState, now time.Time) (cursor string, refreshDays int) {
	if st.Cursor == "" {
		return "", 0
	}
	ns := now.UnixNano() // in Unix ns: time.Time.Sub is a fetch's cost
	switch {
	case passed(st.MonthAt, ns, MonthRereadEvery):
		return st.Cursor, topics.RecentDays
	case passed(st.WeekAt, ns, WeekRereadEvery):
		return st.Cursor, 7
	}
	return st.Cursor, 0
}

// passed reports whether d has passed since at (the zero Time: always) by
// now, in Unix ns.
func passed(at time.Time, now int64, d time.Duration) bool {
	return at.IsZero() || now-at.UnixNano() >= int64(d)
}

// uuidLen is the length of a formatted UUID.
const uuidLen = 36

// newIDs returns n random (version 4) UUIDs in one string, the i-th at
// [uuidLen*i, uuidLen*(i+1)): one allocation for a tick's requests, not
// one each (a fetch's hot path). A kept id keeps its whole batch: copy
// one that outlives the request (strings.Clone).
func (s *Scheduler) newIDs(n int) string {
	var b strings.Builder
	b.Grow(uuidLen * n)
	var u [uuidLen]byte
	s.mu.Lock()
	for range n {
		formatUUID(&u, s.ids.Uint64(), s.ids.Uint64())
		b.Write(u[:])
	}
	s.mu.Unlock()
	return b.String()
}

// hexPairs are each byte's two hex digits.
var hexPairs = func() (t [256][2]byte) {
	const hex = "0123456789abcdef"
	for i := range t {
		t[i] = [2]byte{hex[i>>4], hex[i&0xf]}
	}
	return t
}()

// formatUUID formats the version 4 UUID made of the random bits hi and lo
// (its first and last 8 bytes, big-endian) into u.
func formatUUID(u *[uuidLen]byte, hi, lo uint64) {
	hi = hi&^0xf000 | 0x4000       // version 4: byte 6's high nibble
	lo = lo&^(0xc0<<56) | 0x80<<56 // RFC 4122 variant: byte 8's top bits
	put := func(at int, b uint64) { p := hexPairs[byte(b)]; u[at], u[at+1] = p[0], p[1] }
	put(0, hi>>56)
	put(2, hi>>48)
	put(4, hi>>40)
	put(6, hi>>32)
	u[8] = '-'
	put(9, hi>>24)
	put(11, hi>>16)
	u[13] = '-'
	put(14, hi>>8)
	put(16, hi)
	u[18] = '-'
	put(19, lo>>56)
	put(21, lo>>48)
	u[23] = '-'
	put(24, lo>>40)
	put(26, lo>>32)
	put(28, lo>>24)
	put(30, lo>>16)
	put(32, lo>>8)
	put(34, lo)
}

// Emitted returns how many requests were emitted per platform.
func (s *Scheduler) Emitted() map[topics.Platform]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.emitted)
}
