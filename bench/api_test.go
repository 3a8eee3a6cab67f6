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

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/api/graph"
	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/loadgen"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/processors/aggregator"
	"github.com/pulsehq/pulse/topics"
	"github.com/pulsehq/pulse/vault"
)

var (
	apiUsers       = flag.Int("api-users", 1000, "users seeded for BenchmarkAPILoad (× 3 platforms)")
	apiDays        = flag.Int("api-days", 365, "days of hourly history per account for BenchmarkAPILoad")
	apiClients     = flag.Int("api-clients", 8, "concurrent clients in BenchmarkAPILoad")
	apiPhase       = flag.Duration("api-phase", 10*time.Second, "how long each measured phase of BenchmarkAPILoad lasts")
	apiRate        = flag.Float64("api-rate", 100, "BenchmarkAPILoad: requests/s offered in its open-loop phases (arrivals on a fixed schedule; latency counted from each request's scheduled time, so queueing counts)")
	apiChangeEvery = flag.Duration("api-change-every", time.Minute, "BenchmarkAPILoad: how often each signed-in user's analytics change while the answer cache is measured (an AnalyticsChange published, as the sink does after each write: in production about every 10 minutes, an insert and a recomputation per hourly fetch of each of 3 accounts)")
	apiKeep        = flag.Bool("api-keep", true, "BenchmarkAPILoad: seed the ClickHouse database "+keptDatabase+"_<users>u_<days>d_s<schema version> once and keep it for the next runs of that size (false: a fresh database, dropped at the end)")
)

// keptDatabase prefixes the ClickHouse databases BenchmarkAPILoad keeps
// between runs (-api-keep), one per size.
const keptDatabase = "pulse_bench_api"

// seedFormat changes whenever what seed writes changes for the same
// flags (the generator, its configuration, the store's Insert or rollup
// recomputation): a kept database seeded in another format is reseeded.
const seedFormat = 2

// signedInID is the user ID of signed-in user i, in ClickHouse and in
// PostgreSQL: fixed, so a kept database's rows belong to the users a later
// run signs in.
func signedInID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// signedIn is how many of the seeded users get an account in PostgreSQL
// and a bearer token; the clients query as them. Every user's history has
// the same shape, so the others only make the tables as big as 1,000
// users' data makes them.
const signedIn = 16

// apiGen is the API benchmark's history: hourly account counters for a
// year, posts fetched once a day (a page of the 3 most recent).
func apiGen(tb testing.TB) *loadgen.Gen {
	g, err := loadgen.New(loadgen.Config{Seed: 2, Users: *apiUsers, Hours: *apiDays * 24, PostEvery: 24,
		PostsPerPage: 3, PostsFetchEvery: 24,
		UserID: func(u int) string {
			if u < signedIn {
				return signedInID(u)
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
		insertsPerRollup = 4 // more made one recomputation outlast the driver's read timeout at load 30 (1,000 users)
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
	name  string // a metric name prefix: no spaces
	query string
	vars  map[string]any
	bare  func(ctx context.Context, user string) error
}

// The dashboard's documents (web/static/js/api.js), with its fields.
const (
	metricsDoc = `query Metrics($grain: Grain!, $from: Time!, $to: Time!) { metrics(grain: $grain, from: $from, to: $to) {
  platform accountId handle points { at hours followers followersMin followersMax followersAvg likesGained commentsGained reach views profileViews } } }`
	feedDoc = `query Feed($limit: Int) { feed(limit: $limit) {
  id platform accountId createdAt text permalink likes comments shares views reach saves } }`
	summaryDoc = `query Summary { summary { updatedAt accounts { linkId platform accountId handle followers following postsCount
  delta24h delta7d delta30d engagementRate posts30d observedAt } refreshJobs { id linkId state reason runAt } } }`
	linksDoc = `query Links { links { platform status linkable historyDays accounts {
  id platform accountId handle status statusReason linkedAt lastFetchedAt nextFetchAt } } }`
)

// dashboardMix is the dashboard's queries, each with the bare store calls
// that answer the same: metrics at each grain over its default window
// (ClickHouse), the feed (ClickHouse), the summary (the aggregator's view
// and the refresh jobs in PostgreSQL) and the links (PostgreSQL).
func dashboardMix(db *clickhouse.DB, pg *postgres.DB, now graph.Now, end time.Time) []request {
	series := func(grain pulse.Grain, from time.Time) func(context.Context, string) error {
		return func(ctx context.Context, user string) error {
			_, err := db.Series(ctx, pulse.SeriesQuery{UserID: user, Grain: grain, From: from, To: end})
			return err
		}
	}
	v := func(grain string, from time.Time) map[string]any {
		return map[string]any{"grain": grain, "from": from.Format(time.RFC3339), "to": end.Format(time.RFC3339)}
	}
	// The dashboard's default windows (web/static/js/app.js rangeFor).
	hourFrom, dayFrom := end.Add(-48*time.Hour), end.AddDate(0, 0, -30)
	monthFrom := time.Date(end.Year(), end.Month()-11, 1, 0, 0, 0, 0, time.UTC)
	return []request{
		{"hour-48h", metricsDoc, v("HOUR", hourFrom), series(pulse.GrainHour, hourFrom)},
		{"day-30d", metricsDoc, v("DAY", dayFrom), series(pulse.GrainDay, dayFrom)},
		{"month-12mo", metricsDoc, v("MONTH", monthFrom), series(pulse.GrainMonth, monthFrom)},
		{"feed-20", feedDoc, map[string]any{"limit": 20}, func(ctx context.Context, user string) error {
			_, err := db.Feed(ctx, pulse.FeedQuery{UserID: user, Limit: 20})
			return err
		}},
		{"summary", summaryDoc, nil, func(ctx context.Context, user string) error {
			if _, err := now.Get(user); err != nil {
				return err
			}
			_, err := pg.RefreshJobs(ctx, user)
			return err
		}},
		{"links", linksDoc, nil, func(ctx context.Context, user string) error {
			_, err := pg.Links(ctx, user)
			return err
		}},
	}
}

// apiNow serves the signed-in users' summaries as the API does: an
// aggregator view, on an embedded broker, of a table holding each user's
// state after the aggregator applied the last 31 days of their snapshots.
// It returns the broker too, which also holds the analytics changes'
// topic.
func apiNow(tb testing.TB, g *loadgen.Gen) (*aggregator.View, []string) {
	tb.Helper()
	ctx := context.Background()
	broker, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(broker.Close)
	if _, err := kafka.EnsureTopics(ctx, broker.Addrs(), 1,
		kafka.TopicSpec{Name: string(aggregator.Table), Compacted: true, Partitions: 1},
		kafka.TopicSpec{Name: topics.AnalyticsChanges, Retention: kafka.ChangesRetention}); err != nil {
		tb.Fatal(err)
	}
	cl, err := kafka.NewClient(broker.Addrs())
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	per, hours := len(g.Config().Platforms), g.Config().Hours
	for i := range signedIn {
		st := &aggregator.State{}
		for h := max(0, hours-31*24); h < hours; h++ {
			for a := i * per; a < (i+1)*per; a++ {
				s := g.Snapshot(a, h)
				st.ApplySnapshot(&s)
			}
		}
		val, err := aggregator.StateCodec{}.Encode(st)
		if err != nil {
			tb.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: string(aggregator.Table), Key: []byte(signedInID(i)), Value: val}).FirstErr(); err != nil {
			tb.Fatal(err)
		}
	}
	opts, release := kafka.NewGoka(broker.Addrs(), 1).ViewOptions()
	view, err := aggregator.NewView(broker.Addrs(), aggregator.ViewOptions{Options: opts, Release: release})
	if err != nil {
		tb.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- view.Run(runCtx) }()
	tb.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	for deadline := time.Now().Add(time.Minute); !view.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatal("aggregator view not ready after a minute")
		}
	}
	return view, broker.Addrs()
}

// readyCache tells when its answer cache starts following the changes.
type readyCache struct {
	*api.AnswerCache
	once  sync.Once
	ready chan struct{}
}

func (c *readyCache) Following() {
	c.AnswerCache.Following()
	c.once.Do(func() { close(c.ready) })
}

// followChanges runs a changes feed telling srv's answer cache until the
// benchmark ends, once it follows.
func followChanges(tb testing.TB, brokers []string, srv *api.Server) {
	tb.Helper()
	rc := &readyCache{AnswerCache: srv.Answers(), ready: make(chan struct{})}
	feed, err := kafka.NewChanges(kafka.ChangesConfig{Brokers: brokers, Listener: rc, Logger: quietLog})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- feed.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	select {
	case <-rc.ready:
	case <-time.After(time.Minute):
		tb.Fatal("the answer cache did not follow the changes within a minute")
	}
}

// churn publishes an AnalyticsChange of a signed-in user every
// every/len(ids), round robin (each user every every), as the sink does
// after writing their rows, until stop is closed; it returns how many.
func churn(tb testing.TB, brokers []string, ids []string, every time.Duration, stop <-chan struct{}) <-chan int {
	tb.Helper()
	cl, err := kafka.NewClient(brokers)
	if err != nil {
		tb.Fatal(err)
	}
	n := make(chan int, 1)
	go func() {
		defer cl.Close()
		t := time.NewTicker(every / time.Duration(len(ids)))
		defer t.Stop()
		sent := 0
		for {
			select {
			case <-stop:
				n <- sent
				return
			case <-t.C:
			}
			u := ids[sent%len(ids)]
			v, _ := topics.AnalyticsChangeCodec.Marshal(&topics.AnalyticsChange{UserID: u, At: time.Now().UTC()})
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topics.AnalyticsChanges, Key: []byte(u), Value: v}).FirstErr(); err != nil {
				tb.Error(err)
			}
			sent++
		}
	}()
	return n
}

// sample is one call's latency and the index of its request in the mix.
type sample struct {
	kind int
	d    time.Duration
}

// runLoad calls do from clients goroutines for d, each sending its next
// call when the last returned (closed loop), and returns every call's
// latency, with the request kind do reports.
func runLoad(tb testing.TB, clients int, d time.Duration, do func(r *rand.Rand) (int, error)) []sample {
	tb.Helper()
	stop := time.Now().Add(d)
	return drive(tb, clients, 7, func() (time.Time, bool) {
		now := time.Now()
		return now, now.Before(stop)
	}, do)
}

// runOpen offers do at rate calls/s for d, on a fixed schedule, from up to
// workers goroutines, and returns each call's latency from its scheduled
// start: a call that waits for a free worker counts its wait (no
// coordinated omission).
func runOpen(tb testing.TB, rate float64, d time.Duration, workers int, do func(r *rand.Rand) (int, error)) []sample {
	tb.Helper()
	n := int(rate * d.Seconds())
	start := time.Now()
	due := make(chan time.Time, n) // never full: the schedule never waits
	go func() {
		defer close(due)
		for i := range n {
			at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			time.Sleep(time.Until(at)) // pacing the schedule
			due <- at
		}
	}()
	return drive(tb, workers, 11, func() (time.Time, bool) {
		at, ok := <-due
		return at, ok
	}, do)
}

// drive runs workers goroutines that each take the start of their next
// call from next (until it reports false) and call do; it returns every
// call's latency from that start, and fails tb on do's first error.
func drive(tb testing.TB, workers int, seed uint64, next func() (time.Time, bool), do func(r *rand.Rand) (int, error)) []sample {
	tb.Helper()
	var (
		mu   sync.Mutex
		all  []sample
		wg   sync.WaitGroup
		errs = make(chan error, workers)
	)
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), seed))
			var lat []sample
			for {
				at, ok := next()
				if !ok {
					break
				}
				k, err := do(r)
				if err != nil {
					errs <- err
					return
				}
				lat = append(lat, sample{k, time.Since(at)})
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return all
}

// durations returns the latencies of the samples of kind k, or of all
// samples for k < 0.
func durations(ss []sample, k int) []time.Duration {
	var out []time.Duration
	for _, s := range ss {
		if k < 0 || s.kind == k {
			out = append(out, s.d)
		}
	}
	return out
}

func pct(lat []time.Duration, p float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	i := min(len(lat)-1, int(float64(len(lat))*p))
	return float64(lat[i]) / float64(time.Millisecond)
}

// BenchmarkAPILoad seeds -api-users users × 3 platforms × -api-days of
// hourly history (with rollups, through the store; kept between runs, see
// apiStore) and drives the dashboard's queries (dashboardMix) from
// -api-clients concurrent clients over loopback HTTP with bearer tokens,
// for -api-phase, twice: through the API as it ships, its answer cache
// following the changes while each signed-in user's analytics change
// every -api-change-every, and through an API without the cache. The
// baseline is the same clients calling the stores for the same answers
// directly, in the same run (a bare phase before and after the GraphQL
// phases, pooled). These closed-loop clients keep the machine saturated:
// their latencies are mostly queueing. Then each of the three paths is
// offered the same -api-rate requests/s on a fixed schedule for
// -api-phase (open loop; metrics prefixed "open"): latency at a given
// load. Metrics: latency percentiles in ms and requests/s of each, the
// cache's hit rate, and each query kind's p50 and p99 (closed loop).
func BenchmarkAPILoad(b *testing.B) {
	ctx := context.Background()
	g := apiGen(b)
	pg, ids, tokens := apiPostgres(b, g)
	db := apiStore(b, g)
	end := g.Config().Start.Add(time.Duration(g.Config().Hours) * time.Hour)

	now, brokers := apiNow(b, g)
	serve := func(cache api.AnswerCacheConfig) (*api.Server, string) {
		srv, err := api.New(api.Config{Users: pg, Sessions: pg, Throttle: pg, OAuthStates: pg, Links: pg, Purges: pg, Metrics: db, Now: now,
			AnswerCache: cache, Logger: quietLog})
		if err != nil {
			b.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		hs := &http.Server{Handler: srv.Handler()}
		go hs.Serve(ln)
		b.Cleanup(func() { hs.Close() })
		return srv, "http://" + ln.Addr().String() + "/graphql"
	}
	cachedSrv, cachedURL := serve(api.AnswerCacheConfig{})
	followChanges(b, brokers, cachedSrv)
	_, uncachedURL := serve(api.AnswerCacheConfig{MaxBytes: -1})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *apiClients * 2}}
	mix := dashboardMix(db, pg, now, end)

	graphql := func(url string) func(r *rand.Rand) (int, error) {
		return func(r *rand.Rand) (int, error) {
			k := r.IntN(len(mix))
			q := mix[k]
			body, _ := json.Marshal(map[string]any{"query": q.query, "variables": q.vars})
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tokens[r.IntN(len(tokens))])
			resp, err := client.Do(req)
			if err != nil {
				return k, err
			}
			defer resp.Body.Close()
			out, err := io.ReadAll(resp.Body)
			if err != nil {
				return k, err
			}
			if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"errors"`)) || len(out) < 100 {
				return k, fmt.Errorf("%s: HTTP %d: %.300s", q.name, resp.StatusCode, out)
			}
			return k, nil
		}
	}
	cached, uncached := graphql(cachedURL), graphql(uncachedURL)
	bare := func(r *rand.Rand) (int, error) {
		k := r.IntN(len(mix))
		return k, mix[k].bare(ctx, ids[r.IntN(len(ids))])
	}
	// Warm every path (connections, caches), untimed.
	runLoad(b, *apiClients, time.Second, bare)
	runLoad(b, *apiClients, time.Second, cached)
	runLoad(b, *apiClients, time.Second, uncached)
	b.ResetTimer()
	for range b.N {
		half := *apiPhase / 2
		bs := runLoad(b, *apiClients, half, bare)
		before := cachedSrv.Answers().Stats()
		stop := make(chan struct{})
		changes := churn(b, brokers, ids, *apiChangeEvery, stop)
		cs := runLoad(b, *apiClients, *apiPhase, cached)
		close(stop)
		changed := <-changes
		after := cachedSrv.Answers().Stats()
		us := runLoad(b, *apiClients, *apiPhase, uncached)
		bs = append(bs, runLoad(b, *apiClients, half, bare)...)
		// Open loop: the same offered load on each path.
		const workers = 64
		obs := runOpen(b, *apiRate, *apiPhase, workers, bare)
		stop = make(chan struct{})
		changes = churn(b, brokers, ids, *apiChangeEvery, stop)
		ocs := runOpen(b, *apiRate, *apiPhase, workers, cached)
		close(stop)
		<-changes
		ous := runOpen(b, *apiRate, *apiPhase, workers, uncached)
		for _, ph := range []struct {
			name string
			ss   []sample
		}{{"open-bare", obs}, {"open", ocs}, {"open-uncached", ous}} {
			l := durations(ph.ss, -1)
			b.ReportMetric(pct(l, 0.50), ph.name+"-p50-ms")
			b.ReportMetric(pct(l, 0.95), ph.name+"-p95-ms")
			b.ReportMetric(pct(l, 0.99), ph.name+"-p99-ms")
		}
		b.ReportMetric(*apiRate, "open-req/s")
		cl, ul, bl := durations(cs, -1), durations(us, -1), durations(bs, -1)
		b.ReportMetric(pct(cl, 0.50), "p50-ms")
		b.ReportMetric(pct(cl, 0.95), "p95-ms")
		b.ReportMetric(pct(cl, 0.99), "p99-ms")
		b.ReportMetric(float64(len(cl))/apiPhase.Seconds(), "req/s")
		b.ReportMetric(pct(ul, 0.50), "uncached-p50-ms")
		b.ReportMetric(pct(ul, 0.95), "uncached-p95-ms")
		b.ReportMetric(pct(ul, 0.99), "uncached-p99-ms")
		b.ReportMetric(float64(len(ul))/apiPhase.Seconds(), "uncached-req/s")
		b.ReportMetric(pct(bl, 0.50), "bare-p50-ms")
		b.ReportMetric(pct(bl, 0.95), "bare-p95-ms")
		b.ReportMetric(pct(bl, 0.99), "bare-p99-ms")
		b.ReportMetric(float64(len(bl))/apiPhase.Seconds(), "bare-req/s")
		b.ReportMetric(pct(cl, 0.50)/pct(bl, 0.50), "p50-ratio")
		b.ReportMetric(pct(ul, 0.50)/pct(bl, 0.50), "uncached-p50-ratio")
		hits, misses := after.Hits-before.Hits, after.Misses-before.Misses
		if hits+misses > 0 {
			b.ReportMetric(100*float64(hits)/float64(hits+misses), "hit-%")
		}
		b.ReportMetric(float64(changed)/apiPhase.Seconds(), "changes/s")
		b.ReportMetric(float64(after.Changes-before.Changes)/apiPhase.Seconds(), "changes-told/s")
		// Per query kind: where the time goes.
		for k, q := range mix {
			ck, uk, bk := durations(cs, k), durations(us, k), durations(bs, k)
			b.ReportMetric(pct(ck, 0.50), q.name+"-p50-ms")
			b.ReportMetric(pct(ck, 0.99), q.name+"-p99-ms")
			b.ReportMetric(pct(uk, 0.50), q.name+"-uncached-p50-ms")
			b.ReportMetric(pct(uk, 0.99), q.name+"-uncached-p99-ms")
			b.ReportMetric(pct(bk, 0.50), q.name+"-bare-p50-ms")
			b.ReportMetric(pct(bk, 0.99), q.name+"-bare-p99-ms")
		}
	}
	b.ReportMetric(0, "ns/op")
}

// apiPostgres opens a fresh PostgreSQL database holding the signed-in
// users (with their fixed IDs), a bearer token each, and a link to each of
// their generated accounts; it returns their IDs and tokens.
func apiPostgres(tb testing.TB, g *loadgen.Gen) (pg *postgres.DB, ids, tokens []string) {
	tb.Helper()
	ctx := context.Background()
	url := pgtest.NewDatabase(tb)
	kr, err := vault.NewKeyring("bench", map[string][]byte{"bench": vault.GenerateKey()})
	if err != nil {
		tb.Fatal(err)
	}
	pg, err = postgres.Open(ctx, url, postgres.WithKeyWrapper(kr))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pg.Close)
	if err := pg.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	per := len(g.Config().Platforms)
	for i := range signedIn {
		u, err := pg.CreateUser(ctx, fmt.Sprintf("load%d@bench.local", i), "bench-password-123")
		if err != nil {
			tb.Fatal(err)
		}
		// The generator's rows carry the fixed ID; nothing refers to the
		// user yet.
		if _, err := conn.Exec(ctx, "UPDATE users SET id = $1 WHERE id = $2", signedInID(i), u.ID); err != nil {
			tb.Fatal(err)
		}
		tok, err := pg.CreateSession(ctx, signedInID(i), time.Hour)
		if err != nil {
			tb.Fatal(err)
		}
		for a := i * per; a < (i+1)*per; a++ {
			acc := g.Account(a)
			if _, err := pg.UpsertLink(ctx, acc.UserID, acc.Platform, acc.AccountID, acc.Handle,
				&oauth2.Token{AccessToken: "bench-access", RefreshToken: "bench-refresh", TokenType: "bearer",
					Expiry: time.Now().Add(time.Hour)}, "read"); err != nil {
				tb.Fatal(err)
			}
		}
		ids, tokens = append(ids, signedInID(i)), append(tokens, tok)
	}
	return pg, ids, tokens
}

// apiStore returns the ClickHouse database holding g's history, seeded
// through the store (see seed). With -api-keep it is
// keptDatabase_<users>u_<days>d_s<schema version>, seeded only when its marker table
// (bench_seed, written once seeding finished) does not name this history
// (the name ends in the schema version: _s<clickhouse.SchemaVersion()>);
// the migrations run on it every time, as on a deployed database.
func apiStore(tb testing.TB, g *loadgen.Gen) *clickhouse.DB {
	tb.Helper()
	if !*apiKeep {
		db := chtest.MustOpen(tb)
		seedTimed(tb, db, g)
		return db
	}
	ctx := context.Background()
	// The schema version is in the name: a database of another layout is
	// not reused (Migrate would rebuild it in place, and a run would
	// measure the rebuilt layout where the old one was meant).
	name := fmt.Sprintf("%s_%du_%dd_s%d", keptDatabase, g.Config().Users, g.Config().Hours/24, clickhouse.SchemaVersion())
	url := chtest.NamedURL(tb, name)
	key := fmt.Sprintf("format=%d seed=%d users=%d hours=%d", seedFormat, g.Config().Seed, g.Config().Users, g.Config().Hours)
	conn := bareConn(tb, chtest.NamedURL(tb, "default"))
	defer conn.Close()
	var n uint64
	err := conn.QueryRow(ctx, "SELECT count() FROM "+name+".bench_seed WHERE key = ?", key).Scan(&n)
	if err != nil || n == 0 {
		tb.Logf("seeding %s (%s)", name, key)
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			tb.Fatal(err)
		}
	}
	db, err := clickhouse.Open(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	if n > 0 {
		tb.Logf("kept %s (%s): not seeded", name, key)
		return db
	}
	seedTimed(tb, db, g)
	if err := conn.Exec(ctx, "CREATE TABLE "+name+".bench_seed (key String) ENGINE = Log"); err != nil {
		tb.Fatal(err)
	}
	if err := conn.Exec(ctx, "INSERT INTO "+name+".bench_seed (key) SELECT ?", key); err != nil {
		tb.Fatal(err)
	}
	return db
}

// seedTimed seeds db with g and logs how long it took.
func seedTimed(tb testing.TB, db *clickhouse.DB, g *loadgen.Gen) {
	tb.Helper()
	t0 := time.Now()
	seed(tb, db, g)
	d := time.Since(t0)
	tb.Logf("seeded %d accounts × %d hours in %v (%.0f hourly rows/s)", g.Accounts(), g.Config().Hours,
		d.Round(time.Second), float64(g.Accounts()*g.Config().Hours)/d.Seconds())
}
