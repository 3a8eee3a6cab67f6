package normalizer

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsehq/pulse/metrics"
	"github.com/pulsehq/pulse/topics"
)

// counters are counted once per message in the processor's callbacks
// (goka's sarama clients have no per-record hooks). Created by New, so a
// process without a normalizer exports none of its series.
var counters = sync.OnceValue(func() struct {
	in, snapshots, posts, deadOut prometheus.Counter
} {
	for _, r := range []string{metrics.ReasonDecode, metrics.ReasonInvalid, metrics.ReasonUnknownPlatform, metrics.ReasonParse} {
		metrics.DeadLetters.WithLabelValues(metrics.Normalizer, r)
	}
	return struct{ in, snapshots, posts, deadOut prometheus.Counter }{
		in:        metrics.RecordsIn.WithLabelValues(metrics.Normalizer, topics.RawPayloads),
		snapshots: metrics.RecordsOut.WithLabelValues(metrics.Normalizer, topics.AccountSnapshots),
		posts:     metrics.RecordsOut.WithLabelValues(metrics.Normalizer, topics.Posts),
		deadOut:   metrics.RecordsOut.WithLabelValues(metrics.Normalizer, topics.DeadLetters),
	}
})

// deadLetterReason classifies a normalize error into a bounded reason for
// the pulse_dead_letters_total label (the dead letter keeps the full text).
func deadLetterReason(err error) string {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "raw payload: missing"):
		return metrics.ReasonInvalid
	case strings.HasPrefix(msg, "raw payload: unknown platform"):
		return metrics.ReasonUnknownPlatform
	case strings.HasPrefix(msg, "parse "):
		return metrics.ReasonParse
	default:
		return metrics.ReasonDecode
	}
}

func countDeadLetter(err error) {
	metrics.DeadLetters.WithLabelValues(metrics.Normalizer, deadLetterReason(err)).Inc()
	counters().deadOut.Inc()
}
