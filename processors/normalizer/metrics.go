package normalizer

import (
	"strings"

	"github.com/pulsehq/pulse/metrics"
	"github.com/pulsehq/pulse/topics"
)

// Counted once per message in the processor's callbacks (goka's sarama
// clients have no per-record hooks).
var (
	recordsIn      = metrics.RecordsIn.WithLabelValues(metrics.Normalizer, topics.RawPayloads)
	snapshotsOut   = metrics.RecordsOut.WithLabelValues(metrics.Normalizer, topics.AccountSnapshots)
	postsOut       = metrics.RecordsOut.WithLabelValues(metrics.Normalizer, topics.Posts)
	deadLettersOut = metrics.RecordsOut.WithLabelValues(metrics.Normalizer, topics.DeadLetters)
)

var reasons = []string{metrics.ReasonDecode, metrics.ReasonInvalid, metrics.ReasonUnknownPlatform, metrics.ReasonParse}

func init() {
	for _, r := range reasons {
		metrics.DeadLetters.WithLabelValues(metrics.Normalizer, r)
	}
}

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
	deadLettersOut.Inc()
}
