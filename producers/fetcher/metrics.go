package fetcher

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/pulsehq/pulse/metrics"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/topics"
)

// Records in and out are counted by the client's hooks
// (metrics.KgoHooks); these are the fetcher's own.
var (
	fetchOutcomes = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "pulse_fetch_outcomes_total",
		Help: "Fetches by platform and outcome class (ok, throttled, reauth_needed, permission_missing, transient, permanent, link_missing).",
	}, []string{"platform", "class"})
)

// deadLetters is created by New, so a process without a fetcher exports
// none of its series.
var deadLetters = sync.OnceValue(func() prometheus.Counter {
	return metrics.DeadLetters.WithLabelValues(metrics.Fetcher, metrics.ReasonDecode)
})

// outcomes are every FetchOutcome class, exported at zero from the start.
var outcomes = []topics.Outcome{topics.OutcomeOK, topics.OutcomeThrottled, topics.OutcomeReauth,
	topics.OutcomePermission, topics.OutcomeTransient, topics.OutcomePermanent, topics.OutcomeLinkMissing}

func initOutcomes(conns map[topics.Platform]platforms.Connector) {
	deadLetters()
	for p := range conns {
		for _, o := range outcomes {
			fetchOutcomes.WithLabelValues(string(p), string(o))
		}
	}
}

// countOutcome counts one fetch; a platform without a connector (a bad
// request) is counted as "unknown", keeping the label set bounded.
func (f *Fetcher) countOutcome(p topics.Platform, o topics.Outcome) {
	if _, ok := f.cfg.Connectors[p]; !ok {
		p = "unknown"
	}
	fetchOutcomes.WithLabelValues(string(p), string(o)).Inc()
}
