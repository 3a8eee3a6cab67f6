package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/assembly"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

var refreshPoll = flag.Duration("refresh-poll", 20*time.Millisecond, "BenchmarkRefreshToVisible: the least time between the starts of two polls of GraphQL for a press's observation")

var refreshUsers = flag.Int("refresh-users", 2, "BenchmarkRefreshToVisible: users, each linking the simulator's 10 Facebook Pages and 10 Instagram accounts (one press per link)")

// offsetClock is the real time plus an offset the benchmark moves forward
// an hour before each press, so each refresh's observation falls in an hour
// no earlier observation is in.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// graphQL posts a query with a bearer token and decodes its data into out.
func graphQL(ctx context.Context, url, token, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	if len(env.Errors) > 0 {
		return fmt.Errorf("graphql: %s", env.Errors[0].Message)
	}
	return json.Unmarshal(env.Data, out)
}

const hourPointsQuery = `query($from: Time!, $to: Time!) {
  metrics(grain: HOUR, from: $from, to: $to) { platform accountId points { at followers } } }`

type hourPoints struct {
	Metrics []struct {
		Platform  string
		AccountID string
		Points    []struct {
			At        time.Time
			Followers int64
		}
	}
}

// has reports whether acct has a point in the answer.
func (h hourPoints) has(platform, acct string) bool {
	for _, m := range h.Metrics {
		if m.Platform == platform && m.AccountID == acct && len(m.Points) > 0 {
			return true
		}
	}
	return false
}

// BenchmarkRefreshToVisible measures, through the whole assembled pipeline
// in one process (embedded broker, real PostgreSQL and ClickHouse, the
// simulator over HTTP, every component with its production defaults), the
// time from a refresh press (the GraphQL refresh mutation) until GraphQL's
// hourly metrics answer the observation that refresh fetched: p50 and p95
// over one press per link (-refresh-users × 20 Meta links; Meta's tokens
// live 60 days, so the fetcher's clock can move an hour per press without
// renewing them). The fetcher's clock moves forward an hour before each
// press, so the press's observation is the only one in its hour. Presses
// come one at a time, each after the previous one became visible. The
// same-run baseline is the p50 of the polling query itself (the floor of
// any visibility measurement). pipeline-p50-ms and pipeline-p95-ms end
// when the successful poll began instead: the pipeline's part, to within
// one poll. Polls start every -refresh-poll (or right after the previous
// one, if it took longer), so the benchmark's own load does not depend on
// how fast the API answers (its answer cache answers a repeated poll in
// about a millisecond).
func BenchmarkRefreshToVisible(b *testing.B) {
	ctx := context.Background()
	broker, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer broker.Close()
	pg := pgtest.MustOpen(b)
	ch := chtest.MustOpen(b)
	s, err := sim.New(sim.Config{Seed: 9})
	if err != nil {
		b.Fatal(err)
	}
	simSrv := httptest.NewServer(s.Handler())
	defer simSrv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	apps := map[topics.Platform]assembly.App{}
	for _, pl := range s.Platforms() {
		apps[pl] = assembly.App{ClientID: "pulse-bench", ClientSecret: "secret"}
	}
	// Generous app limits, so no press waits for a budget: the figure is
	// the pipeline's, not the platforms'.
	limits := map[topics.Platform]scheduler.Limits{}
	for _, pl := range []topics.Platform{topics.X, topics.Facebook, topics.Instagram, topics.LinkedIn} {
		limits[pl] = scheduler.Limits{Scopes: []scheduler.Scope{{Name: "app", Per: scheduler.PerApp, Limit: 360000, Window: time.Hour, Cost: 1}}}
	}
	clock := &offsetClock{}
	asm, err := assembly.New(ctx, assembly.Config{
		Components: assembly.Components,
		Logger:     quietLog,
		Kafka:      assembly.KafkaConfig{Brokers: broker.Addrs()},
		Postgres:   assembly.PostgresConfig{DB: pg},
		ClickHouse: assembly.ClickHouseConfig{DB: ch},
		Platforms:  assembly.PlatformsConfig{SimURL: simSrv.URL, PublicURL: "http://" + ln.Addr().String(), Apps: apps},
		HTTP:       assembly.HTTPConfig{Listener: ln},
		Scheduler:  assembly.SchedulerConfig{Limits: limits},
		Fetcher:    assembly.FetcherConfig{Clock: clock.Now},
	})
	if err != nil {
		ln.Close()
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, len(assembly.Components))
	for _, name := range assembly.Components {
		run, err := asm.Runner(name)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			err := run(runCtx)
			if errors.Is(err, context.Canceled) {
				err = nil
			}
			if err != nil {
				err = fmt.Errorf("%s: %w", name, err)
			}
			done <- err
		}()
	}
	defer func() {
		stop()
		for range assembly.Components {
			if err := <-done; err != nil {
				b.Error(err)
			}
		}
		if err := asm.Close(); err != nil {
			b.Error(err)
		}
	}()
	url := asm.URL()

	type link struct {
		token, id, platform, account string
	}
	var links []link
	for u := range *refreshUsers {
		user, err := pg.CreateUser(ctx, fmt.Sprintf("refresh%d@bench.local", u), "bench-password-123")
		if err != nil {
			b.Fatal(err)
		}
		token, err := pg.CreateSession(ctx, user.ID, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		for _, pl := range []topics.Platform{topics.Facebook, topics.Instagram} {
			for _, a := range s.Accounts(pl) {
				access, refresh, expiry, err := s.IssueToken(pl, a.ID)
				if err != nil {
					b.Fatal(err)
				}
				l, err := pg.UpsertLink(ctx, user.ID, pl, a.ID, a.Handle,
					&oauth2.Token{AccessToken: access, RefreshToken: refresh, TokenType: "bearer", Expiry: expiry}, "read")
				if err != nil {
					b.Fatal(err)
				}
				links = append(links, link{token: token, id: l.ID, platform: graphQLPlatform(pl), account: a.ID})
			}
		}
	}
	// Every link's first fetch (with its backfill) visible before any press.
	// waitVisible polls until l has a point in [from, from+2h) (the press's
	// hour, or the next if the hour turned meanwhile) and returns when the
	// successful poll began.
	waitVisible := func(l link, from time.Time, deadline time.Duration) (time.Time, error) {
		end := time.Now().Add(deadline)
		vars := map[string]any{"from": from.Format(time.RFC3339), "to": from.Add(2 * time.Hour).Format(time.RFC3339)}
		for {
			var h hourPoints
			began := time.Now()
			next := began.Add(*refreshPoll)
			if err := graphQL(ctx, url, l.token, hourPointsQuery, vars, &h); err != nil {
				return began, err
			}
			if h.has(l.platform, l.account) {
				return began, nil
			}
			if time.Now().After(end) {
				return began, fmt.Errorf("link %s (%s %s) not visible after %v", l.id, l.platform, l.account, deadline)
			}
			time.Sleep(time.Until(next)) // the poll period
		}
	}
	first := time.Now().Truncate(time.Hour)
	for _, l := range links {
		if _, err := waitVisible(l, first, 5*time.Minute); err != nil {
			b.Fatal(err)
		}
	}

	var lat, pipe, pollLat []time.Duration
	var presses []press
	b.ResetTimer()
	for range b.N {
		for _, l := range links {
			clock.off.Add(int64(time.Hour))
			hour := clock.Now().Truncate(time.Hour)
			start := time.Now()
			var n struct{ Refresh int }
			if err := graphQL(ctx, url, l.token, `mutation($id: ID) { refresh(linkId: $id) }`, map[string]any{"id": l.id}, &n); err != nil {
				b.Fatal(err)
			}
			if n.Refresh != 1 {
				b.Fatalf("refresh of link %s queued %d links, want 1", l.id, n.Refresh)
			}
			began, err := waitVisible(l, hour, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
			pipe = append(pipe, began.Sub(start))
			presses = append(presses, press{link: l.id, at: start, visible: began})
			// The polling query alone, right after: the floor.
			t0 := time.Now()
			if _, err := waitVisible(l, hour, time.Minute); err != nil {
				b.Fatal(err)
			}
			pollLat = append(pollLat, time.Since(t0))
		}
	}
	b.StopTimer()
	b.ReportMetric(pct(lat, 0.50), "p50-ms")
	b.ReportMetric(pct(lat, 0.95), "p95-ms")
	b.ReportMetric(pct(pipe, 0.50), "pipeline-p50-ms")
	b.ReportMetric(pct(pipe, 0.95), "pipeline-p95-ms")
	b.ReportMetric(pct(pollLat, 0.50), "query-p50-ms")
	b.ReportMetric(float64(len(lat)), "presses")
	for _, st := range stages(b, broker.Addrs(), presses) {
		b.ReportMetric(st.p50, st.name+"-p50-ms")
		b.ReportMetric(st.p95, st.name+"-p95-ms")
	}
	b.ReportMetric(0, "ns/op")
}

// graphQLPlatform is the GraphQL enum value of p.
func graphQLPlatform(p topics.Platform) string {
	switch p {
	case topics.Facebook:
		return "FACEBOOK"
	case topics.Instagram:
		return "INSTAGRAM"
	case topics.LinkedIn:
		return "LINKEDIN"
	}
	return "X"
}

// press is one refresh press: its link, when it was pressed and when the
// poll that saw its observation began.
type press struct {
	link        string
	at, visible time.Time
}

type stage struct {
	name     string
	p50, p95 float64
}

// stages splits the presses' latency by the timestamps of the records each
// one caused (all keyed by link id): press → fetch request (scheduler), →
// raw payload (fetcher, with the platform calls), → account snapshot
// (normalizer), → visible (sink and the polling query); and within the
// last: → the sink's change told of the insert (sink-insert), from it →
// visible (after-insert: the API learning of it, and the poll), and →
// the change told of the rollups' recomputation (sink-rollups).
func stages(tb testing.TB, brokers []string, presses []press) []stage {
	tb.Helper()
	cl, err := kafka.NewClient(brokers, kgo.ConsumeTopics(topics.FetchRequests, topics.RawPayloads, topics.AccountSnapshots, topics.AnalyticsChanges),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	adm, err := kafka.NewAdmin(brokers)
	if err != nil {
		tb.Fatal(err)
	}
	defer adm.Close()
	want := endOffsets(tb, adm, topics.FetchRequests) + endOffsets(tb, adm, topics.RawPayloads) + endOffsets(tb, adm, topics.AccountSnapshots) +
		endOffsets(tb, adm, topics.AnalyticsChanges)
	var inserted, recomputed []time.Time      // the sink's changes, of any user
	at := map[string]map[string][]time.Time{} // topic → link → record times
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for n := int64(0); n < want && ctx.Err() == nil; {
		f := cl.PollFetches(ctx)
		f.EachRecord(func(r *kgo.Record) {
			n++
			if r.Topic == topics.AnalyticsChanges {
				c, err := topics.AnalyticsChangeCodec.Unmarshal(r.Value)
				if err != nil {
					tb.Fatal(err)
				}
				if c.Rollups {
					recomputed = append(recomputed, r.Timestamp)
				} else {
					inserted = append(inserted, r.Timestamp)
				}
				return
			}
			if at[r.Topic] == nil {
				at[r.Topic] = map[string][]time.Time{}
			}
			at[r.Topic][string(r.Key)] = append(at[r.Topic][string(r.Key)], r.Timestamp)
		})
	}
	// first is the first of ts at or after t, to the millisecond (presses
	// come one at a time, so the first record or change after a press's
	// previous stage is its own).
	first := func(ts []time.Time, t time.Time) time.Time {
		var best time.Time
		for _, x := range ts {
			if !x.Before(t.Add(-time.Millisecond)) && (best.IsZero() || x.Before(best)) {
				best = x
			}
		}
		return best
	}
	firstAfter := func(topic, link string, t time.Time) time.Time { return first(at[topic][link], t) }
	var sched, fetch, norm, sink, ins, api, roll []time.Duration
	for _, p := range presses {
		req := firstAfter(topics.FetchRequests, p.link, p.at)
		raw := firstAfter(topics.RawPayloads, p.link, req)
		snap := firstAfter(topics.AccountSnapshots, p.link, raw)
		if req.IsZero() || raw.IsZero() || snap.IsZero() {
			continue
		}
		sched, fetch = append(sched, req.Sub(p.at)), append(fetch, raw.Sub(req))
		norm, sink = append(norm, snap.Sub(raw)), append(sink, p.visible.Sub(snap))
		if i := first(inserted, snap); !i.IsZero() {
			ins, api = append(ins, i.Sub(snap)), append(api, p.visible.Sub(i))
		}
		if r := first(recomputed, snap); !r.IsZero() {
			roll = append(roll, r.Sub(snap))
		}
	}
	if len(sched) == 0 {
		return nil
	}
	return []stage{{"scheduler", pct(sched, 0.5), pct(sched, 0.95)}, {"fetcher", pct(fetch, 0.5), pct(fetch, 0.95)},
		{"normalizer", pct(norm, 0.5), pct(norm, 0.95)}, {"sink-and-query", pct(sink, 0.5), pct(sink, 0.95)},
		{"sink-insert", pct(ins, 0.5), pct(ins, 0.95)}, {"after-insert", pct(api, 0.5), pct(api, 0.95)},
		{"sink-rollups", pct(roll, 0.5), pct(roll, 0.95)}}
}
