package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness check: an engine or state a command needs before
// it can do its work.
type Check struct {
	Name string
	// Check returns nil when ready. It must return soon after ctx ends.
	Check func(ctx context.Context) error
}

// CheckTimeout bounds each readiness check.
const CheckTimeout = 3 * time.Second

// AdminHandler serves a command's admin endpoints:
//
//   - /metrics: g in the Prometheus text format (OpenMetrics on request);
//   - /healthz: 200 while the process serves HTTP (liveness);
//   - /readyz: 200 when every check passes within CheckTimeout, else 503;
//     the body lists each check's result;
//   - /debug/pprof/: the Go runtime's profiles (net/http/pprof), e.g.
//     /debug/pprof/heap for what holds the memory; the admin listener is
//     on loopback by default and must stay private;
//   - each extra pattern, e.g. goka's monitor at /debug/goka/.
func AdminHandler(g prometheus.Gatherer, checks []Check, extra map[string]http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		results, ok := RunChecks(r.Context(), checks)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprint(w, results)
	})
	for pattern, h := range extra {
		mux.Handle(pattern, h)
	}
	return mux
}

// RunChecks runs checks concurrently, each within CheckTimeout, and
// returns one "name: ok" or "name: error" line per check, sorted, and
// whether all passed.
func RunChecks(ctx context.Context, checks []Check) (string, bool) {
	lines := make([]string, len(checks))
	ok := true
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
			defer cancel()
			err := c.Check(cctx)
			line := c.Name + ": ok"
			if err != nil {
				line = c.Name + ": " + strings.ReplaceAll(err.Error(), "\n", " ")
				mu.Lock()
				ok = false
				mu.Unlock()
			}
			lines[i] = line
		}()
	}
	wg.Wait()
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n", ok
}
