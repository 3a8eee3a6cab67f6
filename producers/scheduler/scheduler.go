// Package scheduler emits fetch requests for linked accounts: every active
// link at least once per Interval (24 hours by default), spread over the
// interval, and never faster than each platform's budget allows. On-demand
// refreshes are due links too (the API moves their next fetch to now), so
// they share the same budget and can never push Pulse over a rate limit.
//
// The scheduler also reads the fetchers' outcomes: a throttled fetch pauses
// its platform until the platform's reset time and reschedules the link
// then; a transient failure reschedules the link after RetryDelay, so a
// failed fetch does not wait a whole interval.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/time/rate"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/topics"
)

// Links is the store of linked accounts. *postgres.DB implements it.
type Links interface {
	// ClaimDueLinks returns up to limit active links of platform whose next
	// fetch is at or before now, most overdue first, and pushes their next
	// fetch out by lease so no other scheduler replica claims them.
	ClaimDueLinks(ctx context.Context, platform topics.Platform, now time.Time, limit int, lease time.Duration) ([]pulse.Link, error)
	// MarkScheduled sets the link's next fetch time and clears its refresh
	// request.
	MarkScheduled(ctx context.Context, linkID string, next time.Time) error
}

// Budget is how fast fetches of one platform may be issued.
type Budget struct {
	// PerHour is the sustained fetch rate. Each fetch costs the connector a
	// few API calls; size this from the app's quota divided by calls per
	// fetch, with headroom.
	PerHour float64
	// Burst is the most fetches issued at once. Default 1.
	Burst int
	// MinSpacing is the least time between two fetches of one account, for
	// the platform's per-account (per-user) limits, which an app-wide rate
	// cannot see: a link due sooner (a refresh pressed right after a fetch,
	// a quick retry) is deferred until then. Zero means no spacing.
	MinSpacing time.Duration
}

// DefaultBudgets are conservative per-app fetch rates for each platform. The
// spacings keep one account's fetches (up to 7 calls each) inside the
// per-user windows: X users/me 75 per 15 minutes, Meta and Instagram 200
// calls per user per hour, LinkedIn's daily member limits.
var DefaultBudgets = map[topics.Platform]Budget{
	topics.X:         {PerHour: 1200, Burst: 10, MinSpacing: time.Minute}, // users/me + tweets pages, app quota well below X's limits
	topics.Facebook:  {PerHour: 3000, Burst: 10, MinSpacing: 5 * time.Minute},
	topics.Instagram: {PerHour: 3000, Burst: 10, MinSpacing: 5 * time.Minute},
	// LinkedIn meters each endpoint per app per UTC day (of the order of
	// 100k calls): 800 fetches an hour × 24 × up to 5 posts pages is 96k.
	topics.LinkedIn: {PerHour: 800, Burst: 5, MinSpacing: 15 * time.Minute},
}

// Config configures a Scheduler.
type Config struct {
	// Brokers to produce to. Required unless Producer is set.
	Brokers []string
	// Links is the link store. Required.
	Links Links
	// Interval is the longest a link goes without a fetch. Default 24h.
	Interval time.Duration
	// Tick is how often due links are looked for. Default 1s.
	Tick time.Duration
	// Lease is how long a claimed link stays claimed if emitting it fails
	// (it is then due again). Default 1 minute.
	Lease time.Duration
	// RetryDelay is when a link whose fetch failed transiently is due
	// again. Default 5 minutes.
	RetryDelay time.Duration
	// FeedbackGroup is the consumer group reading fetch outcomes. Default
	// "pulse-scheduler".
	FeedbackGroup string
	// Budgets per platform. Default DefaultBudgets; a platform without a
	// budget is not scheduled.
	Budgets map[topics.Platform]Budget
	// Clock defaults to time.Now.
	Clock func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// ClientOptions are extra franz-go options.
	ClientOptions []kgo.Opt
}

// Scheduler emits FetchRequests.
type Scheduler struct {
	cfg      Config
	cl       *kgo.Client
	limiters map[topics.Platform]*rate.Limiter
	log      *slog.Logger

	mu      sync.Mutex // guards the fields below
	emitted map[topics.Platform]int64
	paused  map[topics.Platform]time.Time // platform → paused until
}

// New validates cfg and builds a Scheduler.
func New(cfg Config) (*Scheduler, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("scheduler: no brokers")
	}
	if cfg.Links == nil {
		return nil, errors.New("scheduler: no link store")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 24 * time.Hour
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
	if cfg.FeedbackGroup == "" {
		cfg.FeedbackGroup = "pulse-scheduler"
	}
	if cfg.Budgets == nil {
		cfg.Budgets = DefaultBudgets
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Scheduler{cfg: cfg, log: cfg.Logger, limiters: map[topics.Platform]*rate.Limiter{},
		emitted: map[topics.Platform]int64{}, paused: map[topics.Platform]time.Time{}}
	for p, b := range cfg.Budgets {
		if b.PerHour <= 0 {
			return nil, fmt.Errorf("scheduler: budget for %s must be positive", p)
		}
		burst := max(b.Burst, 1)
		s.limiters[p] = rate.NewLimiter(rate.Limit(b.PerHour/3600), burst)
	}
	cl, err := kafka.NewClient(cfg.Brokers, cfg.ClientOptions...)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s.cl = cl
	return s, nil
}

// Run emits due fetch requests every Tick and applies fetch outcomes until
// ctx is cancelled.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.cl.Close()
	fb, err := kafka.NewClient(s.cfg.Brokers, append([]kgo.Opt{
		kgo.ConsumerGroup(s.cfg.FeedbackGroup),
		kgo.ConsumeTopics(topics.FetchOutcomes),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
	}, s.cfg.ClientOptions...)...)
	if err != nil {
		return fmt.Errorf("scheduler: feedback: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer fb.Close()
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
	}()
	defer func() { <-done }()

	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		if err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduler: tick failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Apply acts on one fetch outcome: a throttled fetch pauses its platform
// until RetryAfter (an hour when the platform gave no time) and makes the
// link due then; a transient failure makes the link due after RetryDelay.
// Other outcomes need no scheduling change.
func (s *Scheduler) Apply(ctx context.Context, o *topics.FetchOutcome) error {
	now := s.cfg.Clock()
	switch o.Outcome {
	case topics.OutcomeThrottled:
		until := o.RetryAfter
		if until.IsZero() || until.Before(now) {
			until = now.Add(time.Hour)
		}
		s.mu.Lock()
		if until.After(s.paused[o.Platform]) {
			s.paused[o.Platform] = until
		}
		s.mu.Unlock()
		s.log.Info("scheduler: platform throttled; pausing", "platform", o.Platform, "until", until)
		return s.cfg.Links.MarkScheduled(ctx, o.LinkID, until)
	case topics.OutcomeTransient:
		return s.cfg.Links.MarkScheduled(ctx, o.LinkID, now.Add(s.cfg.RetryDelay))
	}
	return nil
}

// PausedUntil returns when the platform's pause ends; zero if not paused.
func (s *Scheduler) PausedUntil(p topics.Platform) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused[p]
}

// RunOnce emits the fetch requests that are due now and within budget, and
// returns once Kafka acknowledged them.
func (s *Scheduler) RunOnce(ctx context.Context) error {
	now := s.cfg.Clock()
	var errs []error
	for p, lim := range s.limiters {
		if now.Before(s.PausedUntil(p)) {
			continue
		}
		tokens := int(lim.TokensAt(now))
		if tokens <= 0 {
			continue
		}
		links, err := s.cfg.Links.ClaimDueLinks(ctx, p, now, tokens, s.cfg.Lease)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// The claim took at most `tokens` links, so each gets a token.
		lim.AllowN(now, len(links))
		spacing := s.cfg.Budgets[p].MinSpacing
		for _, l := range links {
			if spacing > 0 && !l.LastFetchedAt.IsZero() && now.Sub(l.LastFetchedAt) < spacing {
				// Too soon for the account's own limits: fetch it as soon as
				// they allow (a deferred refresh is then a scheduled fetch).
				if err := s.cfg.Links.MarkScheduled(ctx, l.ID, l.LastFetchedAt.Add(spacing)); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			if err := s.emit(ctx, l, now); err != nil {
				// The claim's lease makes the rest due again shortly.
				errs = append(errs, err)
				break
			}
			s.mu.Lock()
			s.emitted[p]++
			s.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

func (s *Scheduler) emit(ctx context.Context, l pulse.Link, now time.Time) error {
	reason := topics.ReasonScheduled
	switch {
	case l.RefreshRequested:
		reason = topics.ReasonOnDemand
	case l.LastFetchedAt.IsZero():
		reason = topics.ReasonInitial
	}
	req := &topics.FetchRequest{
		ID: uuid.NewString(), LinkID: l.ID, UserID: l.UserID, Platform: l.Platform,
		Reason: reason, RequestedAt: now.UTC(),
	}
	b, err := topics.FetchRequestCodec.Marshal(req)
	if err != nil {
		return err
	}
	if err := s.cl.ProduceSync(ctx, &kgo.Record{Topic: topics.FetchRequests, Key: []byte(l.ID), Value: b}).FirstErr(); err != nil {
		return fmt.Errorf("scheduler: produce: %w", err)
	}
	return s.cfg.Links.MarkScheduled(ctx, l.ID, s.next(l.ID, now))
}

// next returns when a link fetched at now is next due: one Interval later,
// shifted by a stable per-link offset of up to a tenth of the interval
// (earlier, never later), so links linked at the same moment drift apart
// and the load spreads over the whole interval.
func (s *Scheduler) next(linkID string, now time.Time) time.Time {
	h := fnv.New64a()
	h.Write([]byte(linkID))
	spread := time.Duration(h.Sum64() % uint64(s.cfg.Interval/10+1))
	return now.Add(s.cfg.Interval - spread)
}

// Emitted returns how many requests were emitted per platform.
func (s *Scheduler) Emitted() map[topics.Platform]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.emitted)
}
