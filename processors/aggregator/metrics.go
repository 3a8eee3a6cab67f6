package aggregator

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsehq/pulse/metrics"
	"github.com/pulsehq/pulse/topics"
)

// counters are counted once per message in the processor's callbacks
// (goka's sarama clients have no per-record hooks); the loopback is
// internal and not counted. Created by New, so a process without an
// aggregator exports none of its series.
var counters = sync.OnceValue(func() struct {
	in, out, dead, deadOut prometheus.Counter
} {
	return struct{ in, out, dead, deadOut prometheus.Counter }{
		in:      metrics.RecordsIn.WithLabelValues(metrics.Aggregator, topics.AccountSnapshots),
		out:     metrics.RecordsOut.WithLabelValues(metrics.Aggregator, topics.UserAggregates),
		dead:    metrics.DeadLetters.WithLabelValues(metrics.Aggregator, metrics.ReasonDecode),
		deadOut: metrics.RecordsOut.WithLabelValues(metrics.Aggregator, topics.DeadLetters),
	}
})
