package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/loadgen"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/topics"
)

var (
	apiUsers   = flag.Int("api-users", 1000, "users seeded for BenchmarkAPILoad (× 3 platforms)")
	apiDays    = flag.Int("api-days", 365, "days of hourly history per account for BenchmarkAPILoad")
	apiClients = flag.Int("api-clients", 8, "concurrent clients in BenchmarkAPILoad")
	apiPhase   = flag.Duration("api-phase", 10*time.Second, "how long each measured phase of BenchmarkAPILoad lasts")
)

// signedIn is how many of the seeded users get an account in PostgreSQL
// and a bearer token; the clients query as them. Every user's history has
// the same shape, so the others only make the tables as big as 1,000
// users' data makes them.
const signedIn = 16

// apiGen is the API benchmark's history: hourly account counters for a
// year, posts fetched once a day (a page of the 3 most recent).
func apiGen(tb testing.TB, ids []string) *loadgen.Gen {
	g, err := loadgen.New(loadgen.Config{Seed: 2, Users: *apiUsers, Hours: *apiDays * 24, PostEvery: 24,
		PostsPerPage: 3, PostsFetchEvery: 24,
		UserID: func(u int) string {
			if u < len(ids) {
				return ids[u]
			}
			return fmt.Sprintf("lg-user-%d", u)
		}})
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// seed writes g's events as the sink does: DB.Insert of the hourly rows
// and posts, a few users per call, and DB.RefreshRollups every few inserts,
// so every rollup is computed by the sink's code, and every value can be
// recomputed from the generator. The rows of the next users are generated
// (on every core) while the current ones are inserted.
func seed(tb testing.TB, db *clickhouse.DB, g *loadgen.Gen) {
	tb.Helper()
	const (
		usersPerInsert   = 10
		insertsPerRollup = 4
	)
	type chunk struct {
		snaps []topics.AccountSnapshot
		posts []topics.Post
	}
	per := len(g.Config().Platforms)
	users := g.Config().Users
	gen := func(u0 int) chunk {
		var c chunk
		for a := u0 * per; a < min(u0+usersPerInsert, users)*per; a++ {
			for h := range g.Config().Hours {
				c.snaps = append(c.snaps, g.Snapshot(a, h))
				c.posts = append(c.posts, g.Posts(a, h)...)
			}
		}
		return c
	}
	// Chunks are generated in parallel and inserted in order.
	workers := runtime.GOMAXPROCS(0)
	n := (users + usersPerInsert - 1) / usersPerInsert
	ready := make([]chan chunk, n)
	for i := range ready {
		ready[i] = make(chan chunk, 1)
	}
	sem := make(chan struct{}, workers+1) // chunks generated and not yet inserted
	go func() {
		for i := range n {
			sem <- struct{}{}
			go func() { ready[i] <- gen(i * usersPerInsert) }()
		}
	}()
	ctx := context.Background()
	var waited, inserting, rolling time.Duration
	for i := range n {
		t0 := time.Now()
		c := <-ready[i]
		<-sem
		t1 := time.Now()
		if err := db.Insert(ctx, c.snaps, c.posts); err != nil {
			tb.Fatal(err)
		}
		t2 := time.Now()
		if (i+1)%insertsPerRollup == 0 || i == n-1 {
			if err := db.RefreshRollups(ctx); err != nil {
				tb.Fatal(err)
			}
		}
		waited, inserting, rolling = waited+t1.Sub(t0), inserting+t2.Sub(t1), rolling+time.Since(t2)
	}
	tb.Logf("seed: waited for the generator %v, inserting %v, recomputing rollups %v",
		waited.Round(time.Millisecond), inserting.Round(time.Millisecond), rolling.Round(time.Millisecond))
}

// request is one dashboard request: a GraphQL document and the bare store
// call that answers the same.
type request struct {
	name  string
	query string
	vars  map[string]any
	bare  func(ctx context.Context, user string) error
}

func dashboardMix(db *clickhouse.DB, end time.Time) []request {
	series := func(grain pulse.Grain, from time.Time) func(context.Context, string) error {
		return func(ctx context.Context, user string) error {
			_, err := db.Series(ctx, pulse.SeriesQuery{UserID: user, Grain: grain, From: from, To: end})
			return err
		}
	}
	const metrics = `query Metrics($grain: Grain!, $from: Time!, $to: Time!) { metrics(grain: $grain, from: $from, to: $to) {
  platform accountId handle points { at hours followers followersMin followersMax followersAvg } } }`
	const feed = `query Feed($limit: Int) { feed(limit: $limit) { id platform accountId createdAt text permalink likes comments shares views } }`
	v := func(grain string, from time.Time) map[string]any {
		return map[string]any{"grain": grain, "from": from.Format(time.RFC3339), "to": end.Format(time.RFC3339)}
	}
	// The dashboard's default windows (web/static/js/app.js rangeFor).
	hourFrom, dayFrom := end.Add(-48*time.Hour), end.AddDate(0, 0, -30)
	monthFrom := time.Date(end.Year(), end.Month()-11, 1, 0, 0, 0, 0, time.UTC)
	return []request{
		{"metrics HOUR 48h", metrics, v("HOUR", hourFrom), series(pulse.GrainHour, hourFrom)},
		{"metrics DAY 30d", metrics, v("DAY", dayFrom), series(pulse.GrainDay, dayFrom)},
		{"metrics MONTH 12mo", metrics, v("MONTH", monthFrom), series(pulse.GrainMonth, monthFrom)},
		{"feed 20", feed, map[string]any{"limit": 20}, func(ctx context.Context, user string) error {
			_, err := db.Feed(ctx, pulse.FeedQuery{UserID: user, Limit: 20})
			return err
		}},
	}
}

// run calls do from clients goroutines for d and returns every call's
// latency.
func runLoad(tb testing.TB, clients int, d time.Duration, do func(r *rand.Rand) error) []time.Duration {
	tb.Helper()
	var (
		mu   sync.Mutex
		all  []time.Duration
		wg   sync.WaitGroup
		errs = make(chan error, clients)
	)
	stop := time.Now().Add(d)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(c), 7))
			var lat []time.Duration
			for time.Now().Before(stop) {
				t0 := time.Now()
				if err := do(r); err != nil {
					errs <- err
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return all
}

func pct(lat []time.Duration, p float64) float64 {
	slices.Sort(lat)
	i := min(len(lat)-1, int(float64(len(lat))*p))
	return float64(lat[i]) / float64(time.Millisecond)
}

// BenchmarkAPILoad seeds -api-users users × 3 platforms × -api-days of
// hourly history (with rollups, through the store) and drives the
// dashboard's queries (metrics at each grain over its default window, the
// feed) from -api-clients concurrent clients over loopback HTTP with bearer
// tokens, for -api-phase; the baseline is the same clients calling the
// store's queries for the same answers directly, in the same run (a bare
// phase before and after the GraphQL phase, pooled). Metrics: latency
// percentiles in ms and requests/s of both.
func BenchmarkAPILoad(b *testing.B) {
	ctx := context.Background()
	pg := pgtest.MustOpen(b)
	var ids, tokens []string
	for i := range signedIn {
		u, err := pg.CreateUser(ctx, fmt.Sprintf("load%d@bench.local", i), "bench-password-123")
		if err != nil {
			b.Fatal(err)
		}
		tok, err := pg.CreateSession(ctx, u.ID, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		ids, tokens = append(ids, u.ID), append(tokens, tok)
	}
	g := apiGen(b, ids)
	db := chtest.MustOpen(b)
	t0 := time.Now()
	seed(b, db, g)
	seedTime := time.Since(t0)
	b.Logf("seeded %d accounts × %d hours in %v", g.Accounts(), g.Config().Hours, seedTime.Round(time.Second))
	end := g.Config().Start.Add(time.Duration(g.Config().Hours) * time.Hour)

	srv, err := api.New(api.Config{Users: pg, Sessions: pg, Throttle: pg, OAuthStates: pg, Links: pg, Purges: pg, Metrics: db, Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String() + "/graphql"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *apiClients * 2}}
	mix := dashboardMix(db, end)

	graphql := func(r *rand.Rand) error {
		q := mix[r.IntN(len(mix))]
		body, _ := json.Marshal(map[string]any{"query": q.query, "variables": q.vars})
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tokens[r.IntN(len(tokens))])
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"errors"`)) || len(out) < 100 {
			return fmt.Errorf("%s: HTTP %d: %.300s", q.name, resp.StatusCode, out)
		}
		return nil
	}
	bare := func(r *rand.Rand) error {
		q := mix[r.IntN(len(mix))]
		return q.bare(ctx, ids[r.IntN(len(ids))])
	}
	// Warm both paths (connections, caches), untimed.
	runLoad(b, *apiClients, time.Second, bare)
	runLoad(b, *apiClients, time.Second, graphql)
	b.ResetTimer()
	for range b.N {
		half := *apiPhase / 2
		bl := runLoad(b, *apiClients, half, bare)
		gl := runLoad(b, *apiClients, *apiPhase, graphql)
		bl = append(bl, runLoad(b, *apiClients, half, bare)...)
		b.ReportMetric(pct(gl, 0.50), "p50-ms")
		b.ReportMetric(pct(gl, 0.95), "p95-ms")
		b.ReportMetric(pct(gl, 0.99), "p99-ms")
		b.ReportMetric(float64(len(gl))/apiPhase.Seconds(), "req/s")
		b.ReportMetric(pct(bl, 0.50), "bare-p50-ms")
		b.ReportMetric(pct(bl, 0.95), "bare-p95-ms")
		b.ReportMetric(pct(bl, 0.99), "bare-p99-ms")
		b.ReportMetric(float64(len(bl))/apiPhase.Seconds(), "bare-req/s")
		b.ReportMetric(pct(gl, 0.50)/pct(bl, 0.50), "p50-ratio")
		b.ReportMetric(float64(g.Accounts()*g.Config().Hours)/seedTime.Seconds(), "seed-hourly-rows/s")
	}
	b.ReportMetric(0, "ns/op")
}
