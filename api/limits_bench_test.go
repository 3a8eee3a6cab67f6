package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/postgres/pgtest"
)

// BenchmarkOversizedBody posts a 10 MB chunked GraphQL body to the
// handler: with the default 64 KiB cap, and, as the baseline, with a cap
// above the body (what the API did before it had one). B/op is what one
// such request costs the process; read-B/op how much of the body it read.
func BenchmarkOversizedBody(b *testing.B) {
	const size = 10 << 20
	pg := pgtest.MustOpen(b)
	for _, tc := range []struct {
		name  string
		limit int64
	}{{"cap-64KiB", 0}, {"baseline-no-cap", 16 << 20}} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := api.New(api.Config{Users: pg, Sessions: pg, Throttle: pg, OAuthStates: pg, Links: pg, Purges: pg,
				Metrics: noMetrics{}, Limits: api.Limits{MaxBodyBytes: tc.limit}})
			if err != nil {
				b.Fatal(err)
			}
			h := s.Handler()
			var read atomic.Int64
			b.ReportAllocs()
			for b.Loop() {
				body := io.MultiReader(strings.NewReader(`{"query":"`), io.LimitReader(zeros{}, size))
				req := httptest.NewRequest(http.MethodPost, "/graphql", countingBody{io.NopCloser(body), &read})
				req.ContentLength = -1
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if tc.limit == 0 && rec.Code != http.StatusRequestEntityTooLarge {
					b.Fatalf("status %d, want 413", rec.Code)
				}
			}
			b.ReportMetric(float64(read.Load())/float64(b.N), "read-B/op")
		})
	}
}
