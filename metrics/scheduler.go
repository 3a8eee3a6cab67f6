package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsehq/pulse/topics"
)

// SchedulerScope is one rate-limit scope as the scheduler sees it.
type SchedulerScope struct {
	Platform topics.Platform
	// Scope names the limit (e.g. "app", "page"); PerAccount when every
	// account has its own allowance of it.
	Scope      string
	PerAccount bool
	// Spent is the calls spent since start (app-wide scopes).
	Spent float64
	// Limit is the calls allowed per window.
	Limit float64
	// Left is what may still be spent now; negative for per-account scopes.
	Left float64
	// PausedUntil is when a throttle on the scope ends; zero when none.
	PausedUntil time.Time
}

// SchedulerState is what the scheduler tells about its limits: its
// scopes and the fetch requests it emitted and deferred per platform.
// The assembly adapts *scheduler.Planner's Stats to it.
type SchedulerState interface {
	SchedulerStats(now time.Time) (scopes []SchedulerScope, emitted, deferred map[topics.Platform]int64)
}

var (
	emittedDesc = prometheus.NewDesc("pulse_scheduler_fetches_emitted_total",
		"Fetch requests the scheduler emitted, by platform.", []string{"platform"}, nil)
	deferredDesc = prometheus.NewDesc("pulse_scheduler_fetches_deferred_total",
		"Due fetches the scheduler deferred for spacing or a paused scope, by platform.", []string{"platform"}, nil)
	spentDesc = prometheus.NewDesc("pulse_scheduler_calls_spent_total",
		"Platform API calls the scheduler spent from an app-wide rate-limit scope.", []string{"platform", "scope"}, nil)
	limitDesc = prometheus.NewDesc("pulse_scheduler_calls_limit",
		"Platform API calls a rate-limit scope allows per window (per account where per=account).", []string{"platform", "scope", "per"}, nil)
	leftDesc = prometheus.NewDesc("pulse_scheduler_calls_left",
		"Platform API calls an app-wide rate-limit scope has left now.", []string{"platform", "scope"}, nil)
	pausedDesc = prometheus.NewDesc("pulse_scheduler_platform_paused",
		"1 while a 429 pauses one of the platform's app-wide scopes, else 0.", []string{"platform"}, nil)
)

// SchedulerCollector exports the scheduler's emitted and deferred counts,
// calls spent and left per scope, and pauses.
type SchedulerCollector struct {
	s     SchedulerState
	clock func() time.Time
}

// NewSchedulerCollector returns a collector of s; clock defaults to
// time.Now.
func NewSchedulerCollector(s SchedulerState, clock func() time.Time) *SchedulerCollector {
	if clock == nil {
		clock = time.Now
	}
	return &SchedulerCollector{s: s, clock: clock}
}

// Describe implements prometheus.Collector.
func (c *SchedulerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{emittedDesc, deferredDesc, spentDesc, limitDesc, leftDesc, pausedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *SchedulerCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.clock()
	scopes, emitted, deferred := c.s.SchedulerStats(now)
	paused := map[topics.Platform]float64{}
	for p := range emitted {
		paused[p] = 0
	}
	for _, s := range scopes {
		p := string(s.Platform)
		if _, ok := paused[s.Platform]; !ok {
			paused[s.Platform] = 0
		}
		if s.PerAccount {
			ch <- prometheus.MustNewConstMetric(limitDesc, prometheus.GaugeValue, s.Limit, p, s.Scope, "account")
			continue
		}
		ch <- prometheus.MustNewConstMetric(limitDesc, prometheus.GaugeValue, s.Limit, p, s.Scope, "app")
		ch <- prometheus.MustNewConstMetric(spentDesc, prometheus.CounterValue, s.Spent, p, s.Scope)
		ch <- prometheus.MustNewConstMetric(leftDesc, prometheus.GaugeValue, s.Left, p, s.Scope)
		if s.PausedUntil.After(now) {
			paused[s.Platform] = 1
		}
	}
	for p, v := range paused {
		ch <- prometheus.MustNewConstMetric(emittedDesc, prometheus.CounterValue, float64(emitted[p]), string(p))
		ch <- prometheus.MustNewConstMetric(deferredDesc, prometheus.CounterValue, float64(deferred[p]), string(p))
		ch <- prometheus.MustNewConstMetric(pausedDesc, prometheus.GaugeValue, v, string(p))
	}
}
