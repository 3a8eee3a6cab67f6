package chsink

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/pulsehq/pulse/metrics"
)

// sinkMetrics: one observation per batch written (rows, bytes) and per
// write attempt (duration, errors). Records in and out are counted by the
// client's hooks (metrics.KgoHooks). Registered by New, so a process
// without a sink exports none of them.
type sinkMetrics struct {
	batchRows, batchBytes, insertDuration prometheus.Histogram
	insertErrors, deadLetters             prometheus.Counter
}

var sinkMetricsOnce = sync.OnceValue(func() *sinkMetrics {
	return &sinkMetrics{
		batchRows: promauto.NewHistogram(prometheus.HistogramOpts{
			Name:    "pulse_sink_batch_rows",
			Help:    "Rows (snapshots and posts) per batch written to ClickHouse.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10), // 1 .. 262144
		}),
		batchBytes: promauto.NewHistogram(prometheus.HistogramOpts{
			Name:    "pulse_sink_batch_bytes",
			Help:    "Kafka record value bytes per batch written to ClickHouse.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 10), // 256 B .. 64 MiB
		}),
		insertDuration: promauto.NewHistogram(prometheus.HistogramOpts{
			Name:    "pulse_sink_insert_duration_seconds",
			Help:    "Time of one attempt to write a batch (inserts and rollups), failed attempts included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms .. 41 s
		}),
		insertErrors: promauto.NewCounter(prometheus.CounterOpts{
			Name: "pulse_sink_insert_errors_total",
			Help: "Failed attempts to write a batch to ClickHouse (the batch is retried; offsets wait).",
		}),
		deadLetters: metrics.DeadLetters.WithLabelValues(metrics.Sink, metrics.ReasonDecode),
	}
})

func observeWrite(d time.Duration, err error) {
	m := sinkMetricsOnce()
	m.insertDuration.Observe(d.Seconds())
	if err != nil {
		m.insertErrors.Inc()
	}
}

func observeBatch(b *buffer) {
	m := sinkMetricsOnce()
	m.batchRows.Observe(float64(len(b.snaps) + len(b.posts)))
	m.batchBytes.Observe(float64(b.bytes))
}
