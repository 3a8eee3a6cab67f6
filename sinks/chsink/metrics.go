package chsink

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/pulsehq/pulse/metrics"
)

// Batch metrics: one observation per batch written (rows, bytes) and per
// write attempt (duration, errors). Records in and out are counted by the
// client's hooks (metrics.KgoHooks).
var (
	batchRows = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "pulse_sink_batch_rows",
		Help:    "Rows (snapshots and posts) per batch written to ClickHouse.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 10), // 1 .. 262144
	})
	batchBytes = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "pulse_sink_batch_bytes",
		Help:    "Kafka record value bytes per batch written to ClickHouse.",
		Buckets: prometheus.ExponentialBuckets(256, 4, 10), // 256 B .. 64 MiB
	})
	insertDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "pulse_sink_insert_duration_seconds",
		Help:    "Time of one attempt to write a batch (inserts and rollups), failed attempts included.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms .. 41 s
	})
	insertErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "pulse_sink_insert_errors_total",
		Help: "Failed attempts to write a batch to ClickHouse (the batch is retried; offsets wait).",
	})
)

func init() {
	metrics.DeadLetters.WithLabelValues(metrics.Sink, metrics.ReasonDecode)
}

func observeWrite(d time.Duration, err error) {
	insertDuration.Observe(d.Seconds())
	if err != nil {
		insertErrors.Inc()
	}
}

func observeBatch(b *buffer) {
	batchRows.Observe(float64(len(b.snaps) + len(b.posts)))
	batchBytes.Observe(float64(b.bytes))
}
