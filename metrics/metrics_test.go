package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/metrics"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func TestAdminHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "pulse_test_things_total", Help: "things"})
	reg.MustRegister(c)
	c.Add(3)
	var engineDown error
	h := metrics.AdminHandler(reg, []metrics.Check{
		{Name: "postgres", Check: func(context.Context) error { return nil }},
		{Name: "kafka", Check: func(context.Context) error { return engineDown }},
	}, nil)
	if code, body := get(t, h, "/metrics"); code != 200 || !strings.Contains(body, "pulse_test_things_total 3") {
		t.Errorf("/metrics: %d %s", code, body)
	}
	if code, _ := get(t, h, "/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code, body := get(t, h, "/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(body, "heap profile:") {
		t.Errorf("/debug/pprof/heap: %d %.200s", code, body)
	}
	if code, body := get(t, h, "/readyz"); code != 200 || body != "kafka: ok\npostgres: ok\n" {
		t.Errorf("/readyz with every engine up: %d %q", code, body)
	}
	engineDown = errors.New("dial tcp 127.0.0.1:9092: connection refused")
	code, body := get(t, h, "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "kafka: dial tcp") || !strings.Contains(body, "postgres: ok") {
		t.Errorf("/readyz with kafka down: %d %q", code, body)
	}
}

func TestReadyzChecksAreBounded(t *testing.T) {
	start := time.Now()
	_, ok := metrics.RunChecks(context.Background(), []metrics.Check{{Name: "stuck", Check: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}})
	if ok || time.Since(start) > metrics.CheckTimeout+5*time.Second {
		t.Errorf("a stuck check: ok %v after %s", ok, time.Since(start))
	}
}

func TestKgoHooksCountPolledAndAcknowledgedRecords(t *testing.T) {
	h := metrics.KgoHooks("hooktest").(interface {
		kgo.HookFetchRecordUnbuffered
		kgo.HookProduceRecordUnbuffered
	})
	in := metrics.RecordsIn.WithLabelValues("hooktest", "t1")
	out := metrics.RecordsOut.WithLabelValues("hooktest", "t2")
	r1, r2 := &kgo.Record{Topic: "t1"}, &kgo.Record{Topic: "t2"}
	h.OnFetchRecordUnbuffered(r1, true)
	h.OnFetchRecordUnbuffered(r1, true)
	h.OnFetchRecordUnbuffered(r1, false) // buffered but never polled: not consumed
	h.OnProduceRecordUnbuffered(r2, nil)
	h.OnProduceRecordUnbuffered(r2, errors.New("not acknowledged"))
	if got := testutil.ToFloat64(in); got != 2 {
		t.Errorf("in %v, want 2", got)
	}
	if got := testutil.ToFloat64(out); got != 1 {
		t.Errorf("out %v, want 1", got)
	}
}

type sched struct {
	scopes            []metrics.SchedulerScope
	emitted, deferred map[topics.Platform]int64
}

func (s sched) SchedulerStats(time.Time) ([]metrics.SchedulerScope, map[topics.Platform]int64, map[topics.Platform]int64) {
	return s.scopes, s.emitted, s.deferred
}

func TestSchedulerCollector(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	s := sched{
		scopes: []metrics.SchedulerScope{
			{Platform: topics.X, Scope: "app", Spent: 30, Limit: 450, Left: 420, PausedUntil: now.Add(time.Minute)},
			{Platform: topics.X, Scope: "user", PerAccount: true, Limit: 75, Left: -1},
			{Platform: topics.LinkedIn, Scope: "app", Spent: 5, Limit: 100000, Left: 99995, PausedUntil: now.Add(-time.Minute)},
		},
		emitted:  map[topics.Platform]int64{topics.X: 42},
		deferred: map[topics.Platform]int64{topics.X: 3},
	}
	c := metrics.NewSchedulerCollector(s, func() time.Time { return now })
	want := `
# HELP pulse_scheduler_platform_paused 1 while a 429 pauses one of the platform's app-wide scopes, else 0.
# TYPE pulse_scheduler_platform_paused gauge
pulse_scheduler_platform_paused{platform="linkedin"} 0
pulse_scheduler_platform_paused{platform="x"} 1
# HELP pulse_scheduler_fetches_emitted_total Fetch requests the scheduler emitted, by platform.
# TYPE pulse_scheduler_fetches_emitted_total counter
pulse_scheduler_fetches_emitted_total{platform="linkedin"} 0
pulse_scheduler_fetches_emitted_total{platform="x"} 42
# HELP pulse_scheduler_calls_left Platform API calls an app-wide rate-limit scope has left now.
# TYPE pulse_scheduler_calls_left gauge
pulse_scheduler_calls_left{platform="linkedin",scope="app"} 99995
pulse_scheduler_calls_left{platform="x",scope="app"} 420
# HELP pulse_scheduler_calls_limit Platform API calls a rate-limit scope allows per window (per account where per=account).
# TYPE pulse_scheduler_calls_limit gauge
pulse_scheduler_calls_limit{per="account",platform="x",scope="user"} 75
pulse_scheduler_calls_limit{per="app",platform="linkedin",scope="app"} 100000
pulse_scheduler_calls_limit{per="app",platform="x",scope="app"} 450
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "pulse_scheduler_platform_paused",
		"pulse_scheduler_fetches_emitted_total", "pulse_scheduler_calls_left", "pulse_scheduler_calls_limit"); err != nil {
		t.Error(err)
	}
}
