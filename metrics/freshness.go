package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsehq/pulse/topics"
)

// Freshness describes how fresh one platform's active links are at a
// moment. A link's staleness is the time since its last successful fetch
// (since it was linked, if never fetched).
type Freshness struct {
	Platform topics.Platform
	Active   int64 // active links
	Due      int64 // whose next fetch is at or before now
	Overdue  int64 // whose staleness exceeds the interval
	// Buckets[i] counts the links with staleness <= bounds[i] (cumulative).
	Buckets []int64
	// StalenessSeconds is the sum of every active link's staleness.
	StalenessSeconds float64
}

// FreshnessReader summarises the active links at now: due, overdue past
// interval, and the staleness distribution over bounds. The assembly
// adapts postgres.DB.LinkFreshness to it.
type FreshnessReader func(ctx context.Context, now time.Time, interval time.Duration, bounds []time.Duration) ([]Freshness, error)

// StalenessBounds are the staleness histogram's buckets: fine up to the
// 24-hour promise, coarse beyond it.
var StalenessBounds = []time.Duration{
	15 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 12 * time.Hour,
	18 * time.Hour, 22 * time.Hour, 24 * time.Hour, 36 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour,
}

var (
	stalenessDesc = prometheus.NewDesc("pulse_link_staleness_seconds",
		"Time since each active link's last successful fetch (since it was linked, if never), by platform, as of the scrape: a histogram over links, not over time (no rate() needed; histogram_quantile reads it directly). The 24-hour promise is the 86400 bucket.",
		[]string{"platform"}, nil)
	dueDesc = prometheus.NewDesc("pulse_links_due",
		"Active links whose next fetch is due now, by platform.", []string{"platform"}, nil)
	overdueDesc = prometheus.NewDesc("pulse_links_overdue",
		"Active links that have gone longer than the scheduler's interval (24h) without a fetch, by platform.", []string{"platform"}, nil)
	activeDesc = prometheus.NewDesc("pulse_links_active",
		"Active links, by platform.", []string{"platform"}, nil)
)

// FreshnessCollector exports the links' staleness histogram and the due
// and overdue counts per platform, read from the store at scrape time (at
// most once per MaxAge). Every platform in Platforms is exported, with
// zeros when it has no links.
type FreshnessCollector struct {
	read     FreshnessReader
	interval time.Duration
	// Platforms always exported. Default: none beyond those with links.
	Platforms []topics.Platform
	// Clock defaults to time.Now.
	Clock func() time.Time
	// MaxAge is how long a reading is reused. Default 10s.
	MaxAge time.Duration
	// Timeout bounds one reading. Default 5s.
	Timeout time.Duration

	mu   sync.Mutex
	at   time.Time
	last []prometheus.Metric
}

// NewFreshnessCollector returns a collector reading through read; a link
// is overdue past interval.
func NewFreshnessCollector(read FreshnessReader, interval time.Duration, platforms []topics.Platform) *FreshnessCollector {
	return &FreshnessCollector{read: read, interval: interval, Platforms: platforms, Clock: time.Now,
		MaxAge: 10 * time.Second, Timeout: 5 * time.Second}
}

// Describe implements prometheus.Collector.
func (c *FreshnessCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{stalenessDesc, dueDesc, overdueDesc, activeDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. When the store cannot be read
// the previous reading is exported again (and the error logged).
func (c *FreshnessCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The reading's age is on Clock, so a virtual clock moving on (tests,
	// simulations) reads again.
	if now := c.Clock(); c.last == nil || now.Sub(c.at) >= c.MaxAge || now.Before(c.at) {
		if m, err := c.collect(now); err != nil {
			slog.Warn("metrics: link freshness", "err", err)
		} else {
			c.last, c.at = m, now
		}
	}
	for _, m := range c.last {
		ch <- m
	}
}

func (c *FreshnessCollector) collect(now time.Time) ([]prometheus.Metric, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	fs, err := c.read(ctx, now, c.interval, StalenessBounds)
	if err != nil {
		return nil, err
	}
	seen := map[topics.Platform]bool{}
	for _, f := range fs {
		seen[f.Platform] = true
	}
	for _, p := range c.Platforms {
		if !seen[p] {
			fs = append(fs, Freshness{Platform: p, Buckets: make([]int64, len(StalenessBounds))})
		}
	}
	var out []prometheus.Metric
	for _, f := range fs {
		p := string(f.Platform)
		buckets := make(map[float64]uint64, len(StalenessBounds))
		for i, b := range StalenessBounds {
			buckets[b.Seconds()] = uint64(f.Buckets[i])
		}
		out = append(out,
			prometheus.MustNewConstHistogram(stalenessDesc, uint64(f.Active), f.StalenessSeconds, buckets, p),
			prometheus.MustNewConstMetric(dueDesc, prometheus.GaugeValue, float64(f.Due), p),
			prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, float64(f.Overdue), p),
			prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(f.Active), p),
		)
	}
	return out, nil
}
