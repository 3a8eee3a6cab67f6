package assembly

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/web/monitor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/metrics"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/processors/aggregator"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/topics"
)

// AdminConfig configures the admin listener every command can serve:
// /metrics, /healthz, /readyz and, where goka processors run, goka's
// monitor at /debug/goka/ (metrics.AdminHandler).
type AdminConfig struct {
	// Addr to listen on. Default empty: no admin listener (the commands
	// default --admin-addr to 127.0.0.1:9091).
	Addr string
	// Listener, if set, is served instead of listening on Addr (tests open
	// it first). Close closes it.
	Listener net.Listener
}

// consumed are the topics each consuming component's group reads: what
// pulse_consumer_lag_records reports for it.
var consumed = map[string]metrics.GroupTopics{
	Scheduler:  {Group: "pulse-scheduler", Topics: []string{topics.FetchOutcomes}},
	Fetcher:    {Group: topics.GroupFetcher, Topics: []string{topics.FetchRequests}},
	Normalizer: {Group: topics.GroupNormalizer, Topics: []string{topics.RawPayloads}},
	Aggregator: {Group: topics.GroupAggregator, Topics: []string{topics.AccountSnapshots}},
	Sink:       {Group: topics.GroupSink, Topics: []string{topics.AccountSnapshots, topics.Posts}},
}

// observability is what the admin listener serves from: a registry of
// this Pulse's own collectors (next to the process-wide families in
// prometheus.DefaultRegisterer), and the state /readyz checks.
type observability struct {
	reg  *prometheus.Registry
	adm  *kafka.Admin
	mu   sync.Mutex
	cols map[string]prometheus.Collector
	// ready are the readiness checks of the components built so far.
	ready map[string]func() bool
}

func newObservability() *observability {
	return &observability{reg: prometheus.NewRegistry(), cols: map[string]prometheus.Collector{}, ready: map[string]func() bool{}}
}

// set registers c under key, replacing the collector a previous instance
// of the same component registered.
func (o *observability) set(key string, c prometheus.Collector) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if old, ok := o.cols[key]; ok {
		o.reg.Unregister(old)
	}
	o.cols[key] = c
	o.reg.MustRegister(c)
}

// setReady records a component's readiness (goka: its tables recovered).
func (o *observability) setReady(name string, f func() bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ready[name] = f
}

// openAdmin opens the admin listener and what the collectors need: called
// by New once the engines are open.
func (p *Pulse) openAdmin(ctx context.Context) (err error) {
	p.obs = newObservability()
	n := p.cfg.needs()
	for _, name := range p.cfg.Components {
		metrics.Init(name, nil, nil, nil)
	}
	if n.kafka {
		if p.obs.adm, err = kafka.NewAdmin(p.brokers); err != nil {
			return err
		}
		var groups []metrics.GroupTopics
		for _, name := range p.cfg.Components {
			if g, ok := consumed[name]; ok {
				groups = append(groups, g)
			}
		}
		if len(groups) > 0 {
			p.obs.set("lag", metrics.NewLagCollector(p.obs.adm, groups...))
		}
	}
	if slices.Contains(p.cfg.Components, Scheduler) {
		interval := p.cfg.Scheduler.Interval
		if interval <= 0 {
			interval = 24 * time.Hour
		}
		c := metrics.NewFreshnessCollector(p.linkFreshness, interval, platforms.Registered())
		if p.cfg.Scheduler.Clock != nil {
			c.Clock = p.cfg.Scheduler.Clock
		}
		p.obs.set("freshness", c)
	}
	if p.monitor == nil && (slices.Contains(p.cfg.Components, Normalizer) || slices.Contains(p.cfg.Components, Aggregator)) {
		router := mux.NewRouter()
		p.monitor = monitor.NewServer("/debug/goka", router)
		p.gokaMonitor = router
	}
	if p.adminLn = p.cfg.Admin.Listener; p.adminLn == nil && p.cfg.Admin.Addr != "" {
		if p.adminLn, err = net.Listen("tcp", p.cfg.Admin.Addr); err != nil {
			return fmt.Errorf("admin: %w", err)
		}
	}
	return nil
}

// linkFreshness adapts postgres.DB.LinkFreshness to the collector.
func (p *Pulse) linkFreshness(ctx context.Context, now time.Time, interval time.Duration, bounds []time.Duration) ([]metrics.Freshness, error) {
	fs, err := p.pg.LinkFreshness(ctx, now, interval, bounds)
	out := make([]metrics.Freshness, len(fs))
	for i, f := range fs {
		out[i] = metrics.Freshness{Platform: f.Platform, Active: f.Active, Due: f.Due, Overdue: f.Overdue,
			Buckets: f.Buckets, StalenessSeconds: f.StalenessSeconds}
	}
	return out, err
}

// AdminURL is the admin listener's base URL, or "" without one.
func (p *Pulse) AdminURL() string {
	if p.adminLn == nil {
		return ""
	}
	return "http://" + p.adminLn.Addr().String()
}

// Gatherer gathers every metric this process exports: the components'
// families and this Pulse's collectors.
func (p *Pulse) Gatherer() prometheus.Gatherer {
	return prometheus.Gatherers{prometheus.DefaultGatherer, p.obs.reg}
}

// ServeAdmin serves the admin listener until ctx ends; Run does it. Tests
// that run components one by one (Runner) call it themselves. Without an
// admin listener it returns at once.
func (p *Pulse) ServeAdmin(ctx context.Context) error {
	if p.adminLn == nil {
		return nil
	}
	p.cfg.Logger.Info("admin listening", "addr", p.adminLn.Addr().String())
	return serve(ctx, p.adminLn, p.adminHandler())
}

// adminHandler serves /metrics, /healthz, /readyz (the engines the
// components need, and goka's tables recovered) and goka's monitor.
func (p *Pulse) adminHandler() http.Handler {
	var checks []metrics.Check
	if p.obs.adm != nil {
		checks = append(checks, metrics.Check{Name: "kafka", Check: func(ctx context.Context) error {
			_, err := p.obs.adm.EndOffsets(ctx, topics.FetchRequests)
			return err
		}})
	}
	if p.pg != nil {
		checks = append(checks, metrics.Check{Name: "postgres", Check: p.pg.Ping})
	}
	if p.ch != nil {
		checks = append(checks, metrics.Check{Name: "clickhouse", Check: p.ch.Ping})
	}
	checks = append(checks, metrics.Check{Name: "components", Check: func(context.Context) error {
		p.obs.mu.Lock()
		defer p.obs.mu.Unlock()
		var errs []error
		for name, ok := range p.obs.ready {
			if !ok() {
				errs = append(errs, fmt.Errorf("%s: recovering its tables", name))
			}
		}
		return errors.Join(errs...)
	}})
	extra := map[string]http.Handler{}
	if p.gokaMonitor != nil {
		extra["/debug/goka/"] = p.gokaMonitor
	}
	return metrics.AdminHandler(p.Gatherer(), checks, extra)
}

// clientOptions are the franz-go options of a component's clients: hooks
// that count its records and, when configured, its static group
// membership (KafkaConfig.GroupInstanceID).
func (p *Pulse) clientOptions(component string) []kgo.Opt {
	opts := []kgo.Opt{kgo.WithHooks(metrics.KgoHooks(component))}
	if id := p.cfg.Kafka.GroupInstanceID; id != "" {
		opts = append(opts, kgo.InstanceID(id))
	}
	return opts
}

// observeScheduler exports s's limits: calls spent and left per scope,
// fetches emitted and deferred, pauses.
func (p *Pulse) observeScheduler(s *scheduler.Scheduler) {
	p.obs.set("scheduler", metrics.NewSchedulerCollector(plannerStats{s.Planner()}, p.cfg.Scheduler.Clock))
}

// plannerStats adapts the scheduler's planner to metrics.SchedulerState.
type plannerStats struct{ p *scheduler.Planner }

func (a plannerStats) SchedulerStats(now time.Time) ([]metrics.SchedulerScope, map[topics.Platform]int64, map[topics.Platform]int64) {
	scopes, plats := a.p.Stats(now)
	out := make([]metrics.SchedulerScope, 0, len(scopes))
	for _, s := range scopes {
		out = append(out, metrics.SchedulerScope{Platform: s.Platform, Scope: s.Scope, PerAccount: s.Per == scheduler.PerAccount,
			Spent: s.Spent, Limit: s.Limit, Left: s.Left, PausedUntil: s.PausedUntil})
	}
	emitted := make(map[topics.Platform]int64, len(plats))
	deferred := make(map[topics.Platform]int64, len(plats))
	for pl, st := range plats {
		emitted[pl], deferred[pl] = st.Emitted, st.Deferred
	}
	return out, emitted, deferred
}

// observeGoka makes /readyz wait for proc's tables and, under Dev, shows
// it in goka's monitor.
func (p *Pulse) observeGoka(name string, proc *goka.Processor) {
	p.obs.setReady(name, proc.Recovered)
	if p.monitor != nil {
		p.monitor.AttachProcessor(proc)
	}
}

// observeView exports the API's open subscriptions and makes /readyz wait
// for the view's table.
func (p *Pulse) observeView(v *aggregator.View) {
	p.obs.setReady("aggregates-view", v.Recovered)
	p.obs.set("subscriptions", prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "pulse_api_active_subscriptions",
		Help: "Open summary subscriptions (WebSocket or SSE).",
	}, func() float64 { return float64(v.Subscriptions()) }))
}
