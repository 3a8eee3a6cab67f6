// Package scheduler emits fetch requests for linked accounts: every active
// link at least once per Interval (24 hours by default), spread over the
// interval, and never faster than each platform's budget allows. On-demand
// refreshes are due links too (the API moves their next fetch to now), so
// they share the same budget and can never push Pulse over a rate limit.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/time/rate"

	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/topics"
)

// Links is the store of linked accounts. *postgres.DB implements it.
type Links interface {
	// ClaimDueLinks returns up to limit active links of platform whose next
	// fetch is at or before now, most overdue first, and pushes their next
	// fetch out by lease so no other scheduler replica claims them.
	ClaimDueLinks(ctx context.Context, platform topics.Platform, now time.Time, limit int, lease time.Duration) ([]postgres.Link, error)
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
}

// DefaultBudgets are conservative per-app fetch rates for each platform.
var DefaultBudgets = map[topics.Platform]Budget{
	topics.X:         {PerHour: 1200, Burst: 10}, // users/me + tweets pages, app quota well below X's limits
	topics.Facebook:  {PerHour: 3000, Burst: 10},
	topics.Instagram: {PerHour: 3000, Burst: 10},
	topics.LinkedIn:  {PerHour: 1000, Burst: 5},
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
	emitted  map[topics.Platform]int64
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
	if cfg.Budgets == nil {
		cfg.Budgets = DefaultBudgets
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Scheduler{cfg: cfg, log: cfg.Logger, limiters: map[topics.Platform]*rate.Limiter{}, emitted: map[topics.Platform]int64{}}
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

// Run emits due fetch requests every Tick until ctx is cancelled.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.cl.Close()
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

// RunOnce emits the fetch requests that are due now and within budget, and
// returns once Kafka acknowledged them.
func (s *Scheduler) RunOnce(ctx context.Context) error {
	now := s.cfg.Clock()
	var errs []error
	for p, lim := range s.limiters {
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
		for _, l := range links {
			if err := s.emit(ctx, l, now); err != nil {
				// The claim's lease makes the rest due again shortly.
				errs = append(errs, err)
				break
			}
			s.emitted[p]++
		}
	}
	return errors.Join(errs...)
}

func (s *Scheduler) emit(ctx context.Context, l postgres.Link, now time.Time) error {
	reason := topics.ReasonScheduled
	switch {
	case l.LastFetchedAt.IsZero():
		reason = topics.ReasonInitial
	case l.RefreshRequested:
		reason = topics.ReasonOnDemand
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

// Emitted returns how many requests were emitted per platform. Not safe
// for use concurrently with Run.
func (s *Scheduler) Emitted() map[topics.Platform]int64 { return s.emitted }
