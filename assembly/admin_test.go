package assembly_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/assembly"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/deploy"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/topics"
)

// listen opens a listener on a free port.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// scrape GETs base+"/metrics" and parses it.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value returns the value of the family's series with the given labels
// (a histogram's count), and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.Metric {
		match := true
		for k, v := range labels {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// bucket returns the cumulative count of the histogram series with labels
// at upper bound le.
func bucket(fams map[string]*dto.MetricFamily, name string, labels map[string]string, le float64) float64 {
	for _, m := range fams[name].GetMetric() {
		ok := true
		for k, v := range labels {
			ok = ok && slices.ContainsFunc(m.Label, func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v })
		}
		if !ok || m.Histogram == nil {
			continue
		}
		for _, b := range m.Histogram.Bucket {
			if b.GetUpperBound() == le {
				return float64(b.GetCumulativeCount())
			}
		}
	}
	return -1
}

// eventually is testkit.Eventually for a condition that describes what it
// saw last.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	testkit.Eventually(t, within, func() error {
		if ok, state := cond(); !ok {
			return fmt.Errorf("%s; last: %s", what, state)
		}
		return nil
	})
}

// startBroker starts an in-process broker for the test and returns its
// addresses.
func startBroker(t *testing.T) []string {
	t.Helper()
	b, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.Addrs()
}

// newPulse builds cfg's components, closed when the test ends.
func newPulse(t *testing.T, cfg assembly.Config) *assembly.Pulse {
	t.Helper()
	a, err := assembly.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return a
}

// runPulse runs a's components until the test ends (before a is closed),
// failing the test if Run returns an error.
func runPulse(t *testing.T, a *assembly.Pulse) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
}

// clock is a settable virtual clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestStalenessMetricsMoveWhenALinkGoesOverdue: /metrics of a scheduler
// reports a freshly fetched link in the lowest staleness bucket and not
// overdue; once the clock passes the 24-hour interval without a fetch the
// link is overdue, due, and counted beyond the 86400 s bucket.
func TestStalenessMetricsMoveWhenALinkGoesOverdue(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and a broker")
	}
	ctx := t.Context()
	pg := pgtest.MustOpen(t)
	brokers := startBroker(t)
	u, err := pg.CreateUser(ctx, "stale@example.com", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	link, err := pg.UpsertLink(ctx, u.ID, topics.X, "acct-1", "@one", &oauth2.Token{AccessToken: "t"}, "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := pg.MarkFetched(ctx, link.ID, now); err != nil {
		t.Fatal(err)
	}
	if err := pg.Reschedule(ctx, topics.X, []pulse.NextFetch{{AccountID: "acct-1", At: now.Add(23 * time.Hour), Served: now}}); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: now.Add(time.Minute)}
	a := newPulse(t, assembly.Config{
		Components: []string{assembly.Scheduler},
		Kafka:      assembly.KafkaConfig{Brokers: brokers},
		Postgres:   assembly.PostgresConfig{DB: pg},
		// No budget: nothing is emitted, so only the clock moves the link.
		Scheduler: assembly.SchedulerConfig{Clock: clk.Now, Limits: map[topics.Platform]scheduler.Limits{}},
		Admin:     assembly.AdminConfig{Listener: listen(t)},
	})
	runPulse(t, a)

	x := map[string]string{"platform": "x"}
	eventually(t, 10*time.Second, "fresh link exported", func() (bool, string) {
		f := scrape(t, a.AdminURL())
		n, ok := value(f, "pulse_link_staleness_seconds", x)
		over, _ := value(f, "pulse_links_overdue", x)
		return ok && n == 1 && over == 0 && bucket(f, "pulse_link_staleness_seconds", x, 900) == 1, ""
	})
	f := scrape(t, a.AdminURL())
	if due, _ := value(f, "pulse_links_due", x); due != 0 {
		t.Errorf("due %v before its next fetch, want 0", due)
	}
	if n, ok := value(f, "pulse_links_overdue", map[string]string{"platform": "instagram"}); !ok || n != 0 {
		t.Errorf("instagram (no links) overdue %v exported %v: want 0, exported", n, ok)
	}

	clk.Add(24*time.Hour + time.Minute) // 24h02m since the fetch
	f = scrape(t, a.AdminURL())
	if over, _ := value(f, "pulse_links_overdue", x); over != 1 {
		t.Errorf("overdue %v after 24h without a fetch, want 1", over)
	}
	if due, _ := value(f, "pulse_links_due", x); due != 1 {
		t.Errorf("due %v after its next fetch time, want 1", due)
	}
	if got := bucket(f, "pulse_link_staleness_seconds", x, 86400); got != 0 {
		t.Errorf("staleness <= 24h bucket %v, want 0", got)
	}
	if got := bucket(f, "pulse_link_staleness_seconds", x, 36*3600); got != 1 {
		t.Errorf("staleness <= 36h bucket %v, want 1", got)
	}
	for _, name := range []string{"pulse_link_staleness_seconds", "pulse_links_overdue", "pulse_links_due"} {
		for _, m := range f[name].GetMetric() {
			for _, l := range m.Label {
				if l.GetName() != "platform" && l.GetName() != "le" {
					t.Errorf("%s has label %s: only platform is allowed", name, l.GetName())
				}
			}
		}
	}
}

// TestLagMetricGrowsWhenTheConsumerStops: the sink's group lag is 0 once it
// has written what was produced; after the sink stops, records produced
// show up as lag, per partition, on the admin listener that keeps serving.
func TestLagMetricGrowsWhenTheConsumerStops(t *testing.T) {
	if testing.Short() {
		t.Skip("needs ClickHouse and a broker")
	}
	ctx := t.Context()
	brokers := startBroker(t)
	a := newPulse(t, assembly.Config{
		Components: []string{assembly.Sink},
		Kafka:      assembly.KafkaConfig{Brokers: brokers},
		ClickHouse: assembly.ClickHouseConfig{DB: chtest.MustOpen(t)},
		Sink:       assembly.SinkConfig{FlushInterval: 50 * time.Millisecond},
		Admin:      assembly.AdminConfig{Listener: listen(t)},
	})
	adminCtx, stopAdmin := context.WithCancel(ctx)
	adminDone := make(chan error, 1)
	go func() { adminDone <- a.ServeAdmin(adminCtx) }()
	defer func() { stopAdmin(); <-adminDone }()
	run, err := a.Runner(assembly.Sink)
	if err != nil {
		t.Fatal(err)
	}
	sinkCtx, stopSink := context.WithCancel(ctx)
	sinkDone := make(chan error, 1)
	go func() { sinkDone <- run(sinkCtx) }()

	cl, err := kafka.NewClient(brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(from, n int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < from+n; i++ {
			acct := "acct-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			v, err := topics.AccountSnapshotCodec.Marshal(&topics.AccountSnapshot{LinkID: "link-" + acct, UserID: "user-1",
				Platform: topics.X, AccountID: acct, Handle: "@" + acct, Hour: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC),
				ObservedAt: time.Date(2026, 11, 1, 10, 5, 0, 0, time.UTC), Followers: int64(i), Version: int64(i + 1)})
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, &kgo.Record{Topic: topics.AccountSnapshots, Key: []byte("link-" + acct), Value: v})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	lag := func(f map[string]*dto.MetricFamily) (total float64, partitions int) {
		for _, m := range f["pulse_consumer_lag_records"].GetMetric() {
			var group, topic string
			for _, l := range m.Label {
				switch l.GetName() {
				case "group":
					group = l.GetValue()
				case "topic":
					topic = l.GetValue()
				}
			}
			if group == topics.GroupSink && topic == topics.AccountSnapshots {
				total += m.Gauge.GetValue()
				partitions++
			}
		}
		return total, partitions
	}

	produce(0, 20)
	eventually(t, 30*time.Second, "sink caught up", func() (bool, string) {
		f := scrape(t, a.AdminURL())
		l, parts := lag(f)
		in, _ := value(f, "pulse_records_in_total", map[string]string{"component": "sink", "topic": topics.AccountSnapshots})
		rows, _ := value(f, "pulse_sink_batch_rows", nil)
		return parts == kafka.DefaultPartitions && l == 0 && in >= 20 && rows > 0,
			"lag " + ftoa(l) + " over " + ftoa(float64(parts)) + " partitions, in " + ftoa(in) + ", batches " + ftoa(rows)
	})

	stopSink()
	if err := <-sinkDone; err != nil {
		t.Fatalf("sink: %v", err)
	}
	produce(20, 7)
	eventually(t, 30*time.Second, "lag of the stopped sink", func() (bool, string) {
		l, _ := lag(scrape(t, a.AdminURL()))
		return l == 7, "lag " + ftoa(l)
	})
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// TestEveryMonitoredMetricIsExported runs every component as `pulse dev`
// does and checks that each metric the alert rules and the Grafana
// dashboard read (deploy/monitoring) is on the admin listener's /metrics,
// and that no family carries an id as a label.
func TestEveryMonitoredMetricIsExported(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL, ClickHouse and a broker")
	}
	qs, err := deploy.MonitoringQueries()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, q := range qs {
		names, err := deploy.MetricNames(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			want[n] = append(want[n], q.Where)
		}
	}
	a := newPulse(t, assembly.Config{
		Components: assembly.Components,
		Postgres:   assembly.PostgresConfig{DB: pgtest.MustOpen(t)},
		ClickHouse: assembly.ClickHouseConfig{DB: chtest.MustOpen(t)},
		HTTP:       assembly.HTTPConfig{Listener: listen(t)},
		Admin:      assembly.AdminConfig{Listener: listen(t)},
		Scheduler:  assembly.SchedulerConfig{Tick: 50 * time.Millisecond},
		Sink:       assembly.SinkConfig{FlushInterval: 50 * time.Millisecond},
		Dev:        &assembly.DevConfig{DataDir: t.TempDir(), DemoAccounts: 1, Seed: 1},
	})
	runPulse(t, a)
	var missing []string
	eventually(t, 60*time.Second, "every monitored metric exported, with the pipeline's records counted", func() (bool, string) {
		f := scrape(t, a.AdminURL())
		missing = missing[:0]
		for n, where := range want {
			if f[n] == nil {
				missing = append(missing, n+" ("+where[0]+")")
			}
		}
		in, _ := value(f, "pulse_records_in_total", map[string]string{"component": "sink", "topic": topics.AccountSnapshots})
		return len(missing) == 0 && in > 0, strings.Join(missing, ", ") + "; sink records in " + ftoa(in)
	})
	f := scrape(t, a.AdminURL())
	allowed := map[string]bool{"component": true, "topic": true, "group": true, "partition": true, "platform": true,
		"class": true, "reason": true, "operation": true, "code": true, "what": true, "version": true, "le": true,
		"scope": true, "per": true, // scope: the few rate-limit scopes each platform defines
		"read": true} // how a fetch read posts: full, new, reread, none
	for name, fam := range f {
		if !strings.HasPrefix(name, "pulse_") {
			continue
		}
		for _, m := range fam.Metric {
			for _, l := range m.Label {
				if !allowed[l.GetName()] {
					t.Errorf("%s has label %q: not one of the bounded labels", name, l.GetName())
				}
			}
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/debug/goka/", "/debug/pprof/"} {
		eventually(t, 30*time.Second, path, func() (bool, string) {
			resp, err := http.Get(a.AdminURL() + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, resp.Status + " " + string(body)
		})
	}
}

// TestDemoAccountsSpreadOverDemoUsers: `pulse dev --demo-accounts N` links
// N accounts per platform, DemoAccountsPerUser per demo user (the
// aggregator rewrites a user's whole row on each of its snapshots), the
// first to the demo login; seeding again links nothing twice.
func TestDemoAccountsSpreadOverDemoUsers(t *testing.T) {
	db := pgtest.MustOpen(t)
	n := assembly.DemoAccountsPerUser + 2
	cfg := assembly.Config{
		Components: []string{assembly.API},
		Postgres:   assembly.PostgresConfig{DB: db},
		ClickHouse: assembly.ClickHouseConfig{DB: chtest.MustOpen(t)},
		HTTP:       assembly.HTTPConfig{Listener: listen(t)},
		Dev:        &assembly.DevConfig{DataDir: t.TempDir(), DemoAccounts: n, Seed: 1},
	}
	a := newPulse(t, cfg)
	a.Close()
	cfg.HTTP.Listener = listen(t)
	newPulse(t, cfg) // seeds again over the same database
	platforms := 0
	for k, want := range []int{assembly.DemoAccountsPerUser, 2} {
		u, err := db.Authenticate(t.Context(), assembly.DemoUserEmail(k), assembly.DemoPassword)
		if err != nil {
			t.Fatalf("demo user %d: %v", k, err)
		}
		links, err := db.Links(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		for _, l := range links {
			per[string(l.Platform)]++
		}
		if k == 0 {
			platforms = len(per)
		}
		if len(per) < 3 || len(per) != platforms {
			t.Fatalf("demo user %d links on %d platforms: %v", k, len(per), per)
		}
		for p, got := range per {
			if got != want {
				t.Errorf("demo user %d: %d %s links, want %d", k, got, p, want)
			}
		}
	}
	if _, err := db.Authenticate(t.Context(), assembly.DemoUserEmail(2), assembly.DemoPassword); err == nil {
		t.Errorf("a third demo user exists for %d accounts per platform", n)
	}
}
