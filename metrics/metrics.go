// Package metrics is Pulse's Prometheus instrumentation: the metric
// families several components share (records in and out, dead letters),
// the collectors that read state at scrape time (consumer lag, link
// freshness, scheduler budgets), and the admin HTTP handler every command
// serves on --admin-addr (/metrics, /healthz, /readyz and goka's monitor).
//
// Metrics live in prometheus.DefaultRegisterer. Component packages declare
// their own families next to the code they measure (a metrics.go file in
// each); every family is named pulse_<what>_<unit> and carries only bounded
// labels (component, topic, platform, class, reason, operation): never a
// user, link or account id. Known label values are set to zero at start,
// so every family is exported before its first event.
package metrics

import (
	"runtime/debug"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Components name who counts, as the "component" label.
const (
	Scheduler  = "scheduler"
	Fetcher    = "fetcher"
	Normalizer = "normalizer"
	Aggregator = "aggregator"
	Sink       = "sink"
	API        = "api"
	Refresher  = "refresher"
)

// Dead-letter reasons, as the "reason" label: a bounded classification of
// the full reason stored in the dead letter.
const (
	ReasonDecode          = "decode"           // the record is not a valid event of its topic
	ReasonInvalid         = "invalid"          // it decodes but misses required fields
	ReasonUnknownPlatform = "unknown_platform" // no connector parses its platform
	ReasonParse           = "parse"            // the platform's payload did not parse
)

var (
	// RecordsIn counts records a component consumed, by topic.
	RecordsIn = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "pulse_records_in_total",
		Help: "Records consumed, by component and topic.",
	}, []string{"component", "topic"})
	// RecordsOut counts records a component produced, by topic.
	RecordsOut = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "pulse_records_out_total",
		Help: "Records produced, by component and topic.",
	}, []string{"component", "topic"})
	// DeadLetters counts records sent to the dead-letter topic, by reason.
	DeadLetters = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "pulse_dead_letters_total",
		Help: "Records sent to pulse.dead-letters.v1, by component and reason (decode, invalid, unknown_platform, parse).",
	}, []string{"component", "reason"})

	buildInfo = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pulse_build_info",
		Help: "1 for each component this process runs, with the build's version.",
	}, []string{"component", "version"})
)

// Init sets the known label values of component's shared families to zero,
// so they are exported before the first event, and marks the component as
// running in pulse_build_info. in and out are the topics it consumes and
// produces; reasons its dead-letter reasons.
func Init(component string, in, out, reasons []string) {
	buildInfo.WithLabelValues(component, Version()).Set(1)
	for _, t := range in {
		RecordsIn.WithLabelValues(component, t)
	}
	for _, t := range out {
		RecordsOut.WithLabelValues(component, t)
	}
	for _, r := range reasons {
		DeadLetters.WithLabelValues(component, r)
	}
}

var version = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	if bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
})

// Version is the build's VCS revision (12 characters) or module version.
func Version() string { return version() }
