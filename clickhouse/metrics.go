package clickhouse

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// rollupDuration is registered by the first rollup recomputation, so only
// processes that write (the sink) export it.
var rollupDuration = sync.OnceValue(func() *prometheus.HistogramVec {
	v := promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "pulse_rollup_recompute_duration_seconds",
		Help:    "Time to recompute the day, month and year rollups a write touched, by what (account, post).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms .. 41 s
	}, []string{"what"})
	v.WithLabelValues("account")
	v.WithLabelValues("post")
	return v
})

// InitMetrics exports the rollup metrics at zero before the first write.
func InitMetrics() { rollupDuration() }

// observeRollup records a recomputation of what ("account rollups" or
// "post rollups", as refresh names them) that began at start.
func observeRollup(what string, start time.Time) {
	rollupDuration().WithLabelValues(strings.TrimSuffix(what, " rollups")).Observe(time.Since(start).Seconds())
}
