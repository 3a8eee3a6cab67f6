package clickhouse

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var rollupDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "pulse_rollup_recompute_duration_seconds",
	Help:    "Time to recompute the day, month and year rollups a write touched, by what (account, post).",
	Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms .. 41 s
}, []string{"what"})

func init() {
	rollupDuration.WithLabelValues("account")
	rollupDuration.WithLabelValues("post")
}

// observeRollup records a recomputation of what ("account rollups" or
// "post rollups", as refresh names them) that began at start.
func observeRollup(what string, start time.Time) {
	rollupDuration.WithLabelValues(strings.TrimSuffix(what, " rollups")).Observe(time.Since(start).Seconds())
}
