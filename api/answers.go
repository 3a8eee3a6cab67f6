package api

import (
	"context"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api/graph"
)

// AnswerCacheConfig configures the answer cache (AnswerCache). Zero values
// take the stated defaults.
type AnswerCacheConfig struct {
	// MaxBytes bounds the estimated memory of the cached answers; the
	// least useful go first when it is reached. Default 64 MiB; negative
	// turns the cache off.
	MaxBytes int64
	// TTL is the longest an answer is served from the cache: the bound on
	// how stale an answer can be should a change go unannounced.
	// Default 5 minutes.
	TTL time.Duration
}

func (c AnswerCacheConfig) withDefaults() AnswerCacheConfig {
	if c.MaxBytes == 0 {
		c.MaxBytes = 64 << 20
	}
	if c.TTL <= 0 {
		c.TTL = 5 * time.Minute
	}
	return c
}

// AnswerCache keeps the analytics store's answers (metrics, feed, trends,
// post history) per signed-in user, so a dashboard's repeated queries do
// not each cost ClickHouse a statement; LastObserved, which refresh jobs
// poll, always goes to the store.
//
// It serves answers only while it is told of every change: between a
// Following and the next Lost (kafka.Changes, reading the sink's
// topics.AnalyticsChange records, calls them). Changed(user) makes every
// answer of that user cached before the call stale; an answer is computed
// under the user's generation read before the store is asked, so one that
// races with a change is never served after it. Before Following and
// after Lost every query goes to the store, and Lost drops every answer.
// Identical queries arriving while one is computed wait for it.
//
// Answers are shared between requests: callers must not modify them.
type AnswerCache struct {
	next graph.Metrics
	cfg  AnswerCacheConfig
	seed maphash.Seed
	// gens are the users' generations, by a hash of the user ID: a change
	// of one user also makes the answers of the users sharing its slot
	// stale, which costs them a store query and nothing else.
	gens []atomic.Uint64

	mu    sync.RWMutex
	cache *otter.Cache[answerKey, answer] // nil while not following

	hits, misses, bypassed, changes atomic.Int64
}

// genSlots is the number of generation counters (512 KiB).
const genSlots = 1 << 16

type answerKey struct {
	user string
	gen  uint64
	q    string // the query's kind and every field but the user
}

type answer struct {
	v    any
	size uint32
}

// AnswerCacheStats are an AnswerCache's counters since it was built.
type AnswerCacheStats struct {
	// Hits were answered from the cache (or by an identical query being
	// computed), Misses by the store; Bypassed went to the store because
	// the cache was not following the changes.
	Hits, Misses, Bypassed int64
	// Changes counts the changes told of; Bytes is the estimated size of
	// what is cached now.
	Changes int64
	Bytes   uint64
}

var _ graph.Metrics = (*AnswerCache)(nil)

var (
	answerRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "pulse_api_answer_cache_requests_total",
		Help: "Analytics queries by how the answer cache served them: hit (cached, or shared with an identical query), miss (asked the store) or bypass (the cache was not following the changes).",
	}, []string{"result"})
	answerChanges = promauto.NewCounter(prometheus.CounterOpts{
		Name: "pulse_api_answer_cache_changes_total",
		Help: "Changes of users' analytics the answer cache was told of, each making that user's cached answers stale.",
	})
	answerFollowing = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "pulse_api_answer_cache_following",
		Help: "1 while the answer cache follows the analytics changes and serves cached answers, 0 while every query goes to ClickHouse.",
	})
)

// NewAnswerCache builds a cache in front of next; it serves cached answers
// only once Following is called.
func NewAnswerCache(next graph.Metrics, cfg AnswerCacheConfig) *AnswerCache {
	return &AnswerCache{next: next, cfg: cfg.withDefaults(), seed: maphash.MakeSeed(), gens: make([]atomic.Uint64, genSlots)}
}

// Following starts serving cached answers: from now on every change is
// told with Changed.
func (a *AnswerCache) Following() {
	c := otter.Must(&otter.Options[answerKey, answer]{
		MaximumWeight:    uint64(a.cfg.MaxBytes),
		Weigher:          func(k answerKey, v answer) uint32 { return v.size + uint32(len(k.user)+len(k.q)) },
		ExpiryCalculator: otter.ExpiryWriting[answerKey, answer](a.cfg.TTL),
	})
	a.swap(c)
	answerFollowing.Set(1)
}

// Changed makes every answer of userID cached so far stale.
func (a *AnswerCache) Changed(userID string) {
	a.gen(userID).Add(1)
	a.changes.Add(1)
	answerChanges.Inc()
}

// gen is userID's generation counter.
func (a *AnswerCache) gen(userID string) *atomic.Uint64 {
	return &a.gens[maphash.String(a.seed, userID)%genSlots]
}

// Lost stops serving cached answers and drops them, until the next
// Following.
func (a *AnswerCache) Lost() {
	a.swap(nil)
	answerFollowing.Set(0)
}

// swap makes c the cache (nil: none) and drops the one it replaces.
func (a *AnswerCache) swap(c *otter.Cache[answerKey, answer]) {
	a.mu.Lock()
	old := a.cache
	a.cache = c
	a.mu.Unlock()
	if old != nil {
		old.InvalidateAll()
		old.StopAllGoroutines()
	}
}

// Stats returns the counters.
func (a *AnswerCache) Stats() AnswerCacheStats {
	s := AnswerCacheStats{Hits: a.hits.Load(), Misses: a.misses.Load(), Bypassed: a.bypassed.Load(), Changes: a.changes.Load()}
	a.mu.RLock()
	if a.cache != nil {
		s.Bytes = a.cache.WeightedSize()
	}
	a.mu.RUnlock()
	return s
}

// cached answers q of userID from the cache, or with load (its answer
// weighing size bytes) and keeps it.
func cached[T any](ctx context.Context, a *AnswerCache, userID, q string, load func(context.Context) (T, error), size func(T) int) (T, error) {
	a.mu.RLock()
	c := a.cache
	a.mu.RUnlock()
	if c == nil {
		a.bypassed.Add(1)
		answerRequests.WithLabelValues("bypass").Inc()
		return load(ctx)
	}
	// The generation is read before the store is asked: a change told of
	// after this read makes the answer stale, even one that this query's
	// answer already includes.
	key := answerKey{user: userID, gen: a.gen(userID).Load(), q: q}
	loaded := false
	v, err := c.Get(ctx, key, otter.LoaderFunc[answerKey, answer](func(ctx context.Context, _ answerKey) (answer, error) {
		// Run by this goroutine; should its request end first, a query
		// waiting for this answer loads it again (otter's Get).
		loaded = true
		v, err := load(ctx)
		if err != nil {
			return answer{}, err
		}
		return answer{v: v, size: uint32(min(size(v)+answerOverhead, 1<<31))}, nil
	}))
	if err != nil {
		var zero T
		return zero, err
	}
	if loaded {
		a.misses.Add(1)
		answerRequests.WithLabelValues("miss").Inc()
	} else {
		a.hits.Add(1)
		answerRequests.WithLabelValues("hit").Inc()
	}
	return v.v.(T), nil
}

// answerOverhead is the cache's own memory per entry, roughly.
const answerOverhead = 128

// Series implements graph.Metrics.
func (a *AnswerCache) Series(ctx context.Context, q pulse.SeriesQuery) ([]pulse.Point, error) {
	var k keyBuilder
	k.str("series").str(string(q.Grain)).time(q.From).time(q.To).set(q.Platforms).str(q.AccountID)
	return cached(ctx, a, q.UserID, k.String(), func(ctx context.Context) ([]pulse.Point, error) { return a.next.Series(ctx, q) },
		func(ps []pulse.Point) int {
			n := len(ps) * int(unsafe.Sizeof(pulse.Point{}))
			for _, p := range ps {
				n += len(p.Platform) + len(p.AccountID) + len(p.Handle)
				for _, v := range []*int64{p.Reach, p.Views, p.ProfileViews} {
					if v != nil {
						n += 8
					}
				}
			}
			return n
		})
}

// Feed implements graph.Metrics.
func (a *AnswerCache) Feed(ctx context.Context, q pulse.FeedQuery) ([]pulse.PostRow, error) {
	var k keyBuilder
	k.str("feed").set(q.Platforms).time(q.Before).int(int64(q.Limit)).str(string(q.Rank)).time(q.From).time(q.To)
	if q.After != nil {
		k.str("after").time(q.After.CreatedAt).str(q.After.Platform).str(q.After.PostID)
	}
	return cached(ctx, a, q.UserID, k.String(), func(ctx context.Context) ([]pulse.PostRow, error) { return a.next.Feed(ctx, q) },
		func(rs []pulse.PostRow) int {
			n := len(rs) * int(unsafe.Sizeof(pulse.PostRow{}))
			for _, r := range rs {
				n += len(r.Platform) + len(r.AccountID) + len(r.PostID) + len(r.Text) + len(r.Permalink)
			}
			return n
		})
}

// PostHistory implements graph.Metrics.
func (a *AnswerCache) PostHistory(ctx context.Context, q pulse.PostHistoryQuery) ([]pulse.PostPoint, error) {
	var k keyBuilder
	k.str("history").str(q.Platform).str(q.PostID).time(q.From).time(q.To)
	return cached(ctx, a, q.UserID, k.String(), func(ctx context.Context) ([]pulse.PostPoint, error) { return a.next.PostHistory(ctx, q) },
		func(ps []pulse.PostPoint) int { return len(ps) * int(unsafe.Sizeof(pulse.PostPoint{})) })
}

// Trends implements graph.Metrics.
func (a *AnswerCache) Trends(ctx context.Context, q pulse.TrendQuery) ([]pulse.Trend, error) {
	var k keyBuilder
	k.str("trends").str(string(q.Grain)).time(q.From).time(q.To).set(q.Platforms).str(string(q.Metric)).int(int64(q.Window))
	return cached(ctx, a, q.UserID, k.String(), func(ctx context.Context) ([]pulse.Trend, error) { return a.next.Trends(ctx, q) },
		func(ts []pulse.Trend) int {
			n := len(ts) * int(unsafe.Sizeof(pulse.Trend{}))
			for _, t := range ts {
				n += len(t.Platform) + (len(t.Points)+len(t.Previous))*int(unsafe.Sizeof(pulse.TrendPoint{}))
			}
			return n
		})
}

// LastObserved implements graph.Metrics; it is never cached.
func (a *AnswerCache) LastObserved(ctx context.Context, userID string, since time.Time) (map[string]time.Time, error) {
	return a.next.LastObserved(ctx, userID, since)
}

// keyBuilder writes a query's fields into a cache key, each ended by a
// zero byte so that no two queries share one.
type keyBuilder struct{ strings.Builder }

func (k *keyBuilder) str(s string) *keyBuilder {
	k.WriteString(s)
	k.WriteByte(0)
	return k
}

func (k *keyBuilder) int(n int64) *keyBuilder { return k.str(strconv.FormatInt(n, 10)) }

// time writes t's instant (the zero time apart from every other).
func (k *keyBuilder) time(t time.Time) *keyBuilder {
	if t.IsZero() {
		return k.str("-")
	}
	return k.int(t.UnixNano())
}

// set writes a filter whose order does not change the answer.
func (k *keyBuilder) set(ss []string) *keyBuilder {
	ss = slices.Clone(ss)
	slices.Sort(ss)
	k.int(int64(len(ss)))
	for _, s := range ss {
		k.str(s)
	}
	return k
}
