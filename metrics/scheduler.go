package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsehq/pulse/topics"
)

// SchedulerState is what the scheduler exposes about its budgets.
// *scheduler.Scheduler implements it.
type SchedulerState interface {
	// Emitted returns how many fetch requests were emitted per platform.
	Emitted() map[topics.Platform]int64
	// PausedUntil returns when the platform's pause ends; zero if none.
	PausedUntil(p topics.Platform) time.Time
}

var (
	emittedDesc = prometheus.NewDesc("pulse_scheduler_fetches_emitted_total",
		"Fetch requests the scheduler emitted, by platform (budget use is its rate over pulse_scheduler_budget_fetches_per_hour).",
		[]string{"platform"}, nil)
	budgetDesc = prometheus.NewDesc("pulse_scheduler_budget_fetches_per_hour",
		"The scheduler's sustained fetch budget, by platform.", []string{"platform"}, nil)
	pausedDesc = prometheus.NewDesc("pulse_scheduler_platform_paused",
		"1 while rate-limit feedback pauses the platform's fetches, else 0.", []string{"platform"}, nil)
)

// SchedulerCollector exports the scheduler's emitted counts, budgets and
// pauses for the platforms in budgets (fetches per hour).
type SchedulerCollector struct {
	s       SchedulerState
	budgets map[topics.Platform]float64
	clock   func() time.Time
}

// NewSchedulerCollector returns a collector of s; clock defaults to
// time.Now.
func NewSchedulerCollector(s SchedulerState, budgets map[topics.Platform]float64, clock func() time.Time) *SchedulerCollector {
	if clock == nil {
		clock = time.Now
	}
	return &SchedulerCollector{s: s, budgets: budgets, clock: clock}
}

// Describe implements prometheus.Collector.
func (c *SchedulerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- emittedDesc
	ch <- budgetDesc
	ch <- pausedDesc
}

// Collect implements prometheus.Collector.
func (c *SchedulerCollector) Collect(ch chan<- prometheus.Metric) {
	emitted := c.s.Emitted()
	now := c.clock()
	for p, perHour := range c.budgets {
		paused := 0.0
		if c.s.PausedUntil(p).After(now) {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(emittedDesc, prometheus.CounterValue, float64(emitted[p]), string(p))
		ch <- prometheus.MustNewConstMetric(budgetDesc, prometheus.GaugeValue, perHour, string(p))
		ch <- prometheus.MustNewConstMetric(pausedDesc, prometheus.GaugeValue, paused, string(p))
	}
}
