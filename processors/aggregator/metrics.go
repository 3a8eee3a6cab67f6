package aggregator

import (
	"github.com/pulsehq/pulse/metrics"
	"github.com/pulsehq/pulse/topics"
)

// Counted once per message in the processor's callbacks (goka's sarama
// clients have no per-record hooks). The loopback is internal and not
// counted.
var (
	recordsIn      = metrics.RecordsIn.WithLabelValues(metrics.Aggregator, topics.AccountSnapshots)
	aggregatesOut  = metrics.RecordsOut.WithLabelValues(metrics.Aggregator, topics.UserAggregates)
	deadLetters    = metrics.DeadLetters.WithLabelValues(metrics.Aggregator, metrics.ReasonDecode)
	deadLettersOut = metrics.RecordsOut.WithLabelValues(metrics.Aggregator, topics.DeadLetters)
)
