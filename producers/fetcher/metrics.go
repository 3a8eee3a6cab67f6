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
	fetchCalls = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "pulse_fetch_calls_total",
		Help: "API calls fetches made, by platform and how they read posts (full, new: from the cursor, reread: from the cursor with the decaying refresh, none: posts skipped).",
	}, []string{"platform", "read"})
	fetchReads = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "pulse_fetch_reads_total",
		Help: "Fetches that reached the platform, by platform and how they read posts (as pulse_fetch_calls_total): calls per fetch is the one over the other.",
	}, []string{"platform", "read"})
)

// reads are the read labels of fetchCalls and fetchReads.
var reads = []string{"full", "new", "reread", "none"}

// readKind is how req reads posts (a label of reads).
func readKind(req *topics.FetchRequest) string {
	switch {
	case req.SkipPosts:
		return "none"
	case req.PostsSince == "":
		return "full"
	case req.RefreshDays > 0:
		return "reread"
	}
	return "new"
}

// countCalls counts one fetch of a known platform that made calls.
func countCalls(req *topics.FetchRequest, calls int) {
	if calls <= 0 {
		return
	}
	k := readKind(req)
	fetchCalls.WithLabelValues(string(req.Platform), k).Add(float64(calls))
	fetchReads.WithLabelValues(string(req.Platform), k).Inc()
}

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
		for _, r := range reads {
			fetchCalls.WithLabelValues(string(p), r)
			fetchReads.WithLabelValues(string(p), r)
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
