package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"go.uber.org/goleak"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/processors/aggregator"
	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/producers/fetcher"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/sinks/chsink"
	"github.com/pulsehq/pulse/topics"

	_ "github.com/pulsehq/pulse/platforms/all"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		goleak.IgnoreAnyFunction("github.com/ClickHouse/clickhouse-go/v2.(*clickhouse).startAutoCloseIdleConnections"),
	)
}

// pipeline is every Pulse component wired together on real engines. Each
// component runs under its own context so tests can stop and restart it.
type pipeline struct {
	t       *testing.T
	brokers []string
	goka    *kafka.Goka
	pg      *postgres.DB
	ch      *clickhouse.DB
	sim     *sim.Server
	api     *httptest.Server
	conns   map[topics.Platform]platforms.Connector
	parsers map[topics.Platform]normalizer.Parser
	clock   func() time.Time // the fetcher's clock
	budgets map[topics.Platform]scheduler.Budget
	running map[string]*component
	log     *slog.Logger // every component's; nil: slog.Default()
}

// pipelineOption configures newPipeline.
type pipelineOption func(*pipelineOptions)

type pipelineOptions struct {
	log  *slog.Logger
	wrap func(platforms.Connector) platforms.Connector
}

// withLogger makes log every component's logger.
func withLogger(log *slog.Logger) pipelineOption {
	return func(o *pipelineOptions) { o.log = log }
}

// withConnectorWrapper wraps each connector, e.g. to observe it.
func withConnectorWrapper(wrap func(platforms.Connector) platforms.Connector) pipelineOption {
	return func(o *pipelineOptions) { o.wrap = wrap }
}

type component struct {
	cancel context.CancelFunc
	done   chan error
}

// start runs fn as the component name until stop or the test's end.
func (p *pipeline) start(name string, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &component{cancel: cancel, done: make(chan error, 1)}
	p.running[name] = c
	go func() {
		err := fn(ctx)
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		c.done <- err
	}()
}

// stop stops the component name and fails the test if it had failed.
func (p *pipeline) stop(name string) {
	p.t.Helper()
	c := p.running[name]
	if c == nil {
		return
	}
	delete(p.running, name)
	c.cancel()
	select {
	case err := <-c.done:
		if err != nil {
			p.t.Errorf("%s: %v", name, err)
		}
	case <-time.After(60 * time.Second):
		p.t.Errorf("%s did not stop within 60s", name)
	}
}

// startScheduler, startFetcher, ... build a fresh instance of the component
// and start it.
func (p *pipeline) startScheduler(interval time.Duration) {
	s, err := scheduler.New(scheduler.Config{Brokers: p.brokers, Links: p.pg, Tick: 50 * time.Millisecond, Interval: interval, Budgets: p.budgets, Logger: p.log})
	if err != nil {
		p.t.Fatal(err)
	}
	p.start("scheduler", s.Run)
}

func (p *pipeline) startFetcher() {
	f, err := fetcher.New(fetcher.Config{Brokers: p.brokers, Links: p.pg, Connectors: p.conns, Clock: p.clock, Logger: p.log})
	if err != nil {
		p.t.Fatal(err)
	}
	p.start("fetcher", f.Run)
}

func (p *pipeline) gokaOptions() []goka.ProcessorOption {
	opts := append(p.goka.ProcessorOptions(), goka.WithStorageBuilder(storage.MemoryBuilder()))
	if p.log != nil {
		opts = append(opts, goka.WithLogger(gokaLogger{p.log}))
	}
	return opts
}

// gokaLogger sends goka's messages to a slog.Logger.
type gokaLogger struct{ log *slog.Logger }

func (l gokaLogger) Print(v ...any)   { l.log.Debug(fmt.Sprint(v...), "component", "goka") }
func (l gokaLogger) Println(v ...any) { l.log.Debug(fmt.Sprint(v...), "component", "goka") }
func (l gokaLogger) Printf(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "goka")
}

func (p *pipeline) startNormalizer() {
	proc, err := normalizer.New(normalizer.Config{Brokers: p.brokers, Parsers: p.parsers, Options: p.gokaOptions(), Logger: p.log})
	if err != nil {
		p.t.Fatal(err)
	}
	p.start("normalizer", func(ctx context.Context) error { return normalizer.Run(ctx, proc) })
}

func (p *pipeline) startAggregator() {
	proc, err := aggregator.New(aggregator.Config{Brokers: p.brokers, Options: p.gokaOptions(), Logger: p.log})
	if err != nil {
		p.t.Fatal(err)
	}
	p.start("aggregator", proc.Run)
}

func (p *pipeline) startSink() *chsink.Sink {
	s, err := chsink.New(chsink.Config{Brokers: p.brokers, Store: p.ch, FlushInterval: 100 * time.Millisecond, Logger: p.log})
	if err != nil {
		p.t.Fatal(err)
	}
	p.start("sink", s.Run)
	return s
}

// newPipeline sets up the engines, the simulator and the API; no pipeline
// component runs yet. fetchClock is the fetcher's clock, simClock the
// simulator's.
func newPipeline(t *testing.T, fetchClock, simClock func() time.Time, opts ...pipelineOption) *pipeline {
	t.Helper()
	var o pipelineOptions
	for _, opt := range opts {
		opt(&o)
	}
	p := &pipeline{t: t, clock: fetchClock, running: map[string]*component{}, log: o.log}
	broker, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	p.brokers = broker.Addrs()
	repl, err := kafka.EnsureTopics(context.Background(), p.brokers, 0, kafka.PulseTopics()...)
	if err != nil {
		t.Fatal(err)
	}
	p.goka = kafka.NewGoka(p.brokers, repl)
	p.pg = postgres.MustOpenTest(t)
	p.ch = clickhouse.MustOpenTest(t)
	p.sim, err = sim.New(sim.Config{Seed: 7, Clock: simClock})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(p.sim.Handler())
	t.Cleanup(simSrv.Close)
	// The connectors' redirect URI is the API's callback: serve first, then
	// build the handler.
	var apiHandler atomic.Pointer[http.Handler]
	p.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*apiHandler.Load()).ServeHTTP(w, r)
	}))
	p.conns = map[topics.Platform]platforms.Connector{}
	p.parsers = map[topics.Platform]normalizer.Parser{}
	for _, pl := range p.sim.Platforms() {
		c, err := platforms.New(pl, platforms.Config{BaseURL: sim.BaseURL(simSrv.URL, pl), AuthBaseURL: sim.BaseURL(simSrv.URL, pl),
			ClientID: "pulse-e2e", ClientSecret: "secret", RedirectURL: p.api.URL + "/oauth/" + string(pl) + "/callback"})
		if err != nil {
			t.Fatal(err)
		}
		if o.wrap != nil {
			c = o.wrap(c)
		}
		p.conns[pl], p.parsers[pl] = c, c
	}
	srv, err := api.New(api.Config{Accounts: p.pg, Metrics: p.ch, Connectors: p.conns, Logger: p.log})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	apiHandler.Store(&h)
	t.Cleanup(func() {
		p.api.Close()
		for name := range p.running {
			p.stop(name)
		}
	})
	return p
}

// startPipeline is newPipeline with every component running.
func startPipeline(t *testing.T, now func() time.Time) *pipeline {
	t.Helper()
	p := newPipeline(t, now, now)
	p.startScheduler(0)
	p.startFetcher()
	p.startNormalizer()
	p.startAggregator()
	p.startSink()
	return p
}

// mustLink links the simulator's account of platform to user with a token
// the simulator issued.
func (p *pipeline) mustLink(userID string, pl topics.Platform, acct sim.Account) {
	p.t.Helper()
	access, refresh, expiry, err := p.sim.IssueToken(pl, acct.ID)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.pg.UpsertLink(context.Background(), userID, pl, acct.ID, acct.Handle,
		&oauth2.Token{AccessToken: access, RefreshToken: refresh, TokenType: "bearer", Expiry: expiry}, "read"); err != nil {
		p.t.Fatal(err)
	}
}

// mustSignUp creates a user through the REST API and returns its bearer
// token and id.
func (p *pipeline) mustSignUp(t *testing.T, email string) (token, id string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": "correct horse battery"})
	resp, err := http.Post(p.api.URL+"/auth/signup", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
		User  struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&out) != nil || out.Token == "" {
		t.Fatalf("signup: status %d", resp.StatusCode)
	}
	return out.Token, out.User.ID
}

// graphql runs query as the user with token and decodes data into out.
func (p *pipeline) graphql(t *testing.T, token, query string, vars map[string]any, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, p.api.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	if len(env.Errors) > 0 {
		t.Fatalf("graphql errors: %+v", env.Errors)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		t.Fatal(err)
	}
}

const metricsQuery = `query($from: Time!, $to: Time!) {
  metrics(grain: HOUR, from: $from, to: $to, platforms: [X]) { platform accountId points { at followers hours } }
  feed(limit: 5) { id platform likes }
}`

type metricsResult struct {
	Metrics []struct {
		Platform  string
		AccountID string
		Points    []struct {
			At        time.Time
			Followers int64
			Hours     int64 // 0: post activity only, no follower reading yet
		}
	}
	Feed []struct {
		ID       string
		Platform string
		Likes    int64
	}
}

// TestFollowerCountFlowsFromSimulatorToGraphQL links a simulated X account,
// lets the scheduler, fetcher, goka normalizer and ClickHouse sink run, and
// checks that GraphQL returns exactly the follower count the simulator
// served for that hour, and the newest post it published.
func TestFollowerCountFlowsFromSimulatorToGraphQL(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	observed := time.Now().UTC()
	now := func() time.Time { return observed }
	p := startPipeline(t, now)

	token, userID := p.mustSignUp(t, "e2e@example.com")
	otherToken, _ := p.mustSignUp(t, "other@example.com")
	acct := p.sim.Accounts(topics.X)[0]
	p.mustLink(userID, topics.X, acct)
	wantFollowers, err := p.sim.Followers(topics.X, acct.ID, observed)
	if err != nil {
		t.Fatal(err)
	}
	wantPosts, err := p.sim.Posts(topics.X, acct.ID, observed, 1)
	if err != nil || len(wantPosts) != 1 {
		t.Fatalf("sim posts: %v %v", wantPosts, err)
	}

	hour := observed.Truncate(time.Hour)
	vars := map[string]any{"from": hour, "to": hour.Add(time.Hour)}
	var got metricsResult
	deadline := time.Now().Add(60 * time.Second)
	for {
		got = metricsResult{}
		p.graphql(t, token, metricsQuery, vars, &got)
		if len(got.Metrics) > 0 && len(got.Metrics[0].Points) > 0 && got.Metrics[0].Points[0].Hours > 0 && len(got.Feed) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(got.Metrics) != 1 || len(got.Metrics[0].Points) != 1 {
		t.Fatalf("metrics = %+v, want one account with one point within 60s", got.Metrics)
	}
	m := got.Metrics[0]
	if m.Platform != "X" || m.AccountID != acct.ID || !m.Points[0].At.Equal(hour) || m.Points[0].Followers != wantFollowers {
		t.Fatalf("metrics = %+v, want %s followers %d at %v", m, acct.ID, wantFollowers, hour)
	}
	if wantFollowers == 0 {
		t.Fatal("simulator served zero followers; the test would not tell a missing value from a right one")
	}
	if got.Feed[0].ID != wantPosts[0].ID || got.Feed[0].Likes != wantPosts[0].Likes {
		t.Fatalf("feed[0] = %+v, want post %s with %d likes", got.Feed[0], wantPosts[0].ID, wantPosts[0].Likes)
	}

	// The day grain carries the post metrics ClickHouse computed, as they
	// are, on the day of the newest post (so at least one was published).
	// Rollups are written just after the rows they summarize: wait for them.
	type dailyResult struct {
		Metrics []struct {
			Points []struct {
				PostsPublished, LikesGained, CommentsGained, Hours int64
			}
		}
	}
	day := wantPosts[0].CreatedAt.UTC().Truncate(24 * time.Hour)
	dayVars := map[string]any{"from": day, "to": day.Add(24 * time.Hour)}
	var daily dailyResult
	for deadline := time.Now().Add(30 * time.Second); ; {
		daily = dailyResult{}
		p.graphql(t, token, `query($from: Time!, $to: Time!) { metrics(grain: DAY, from: $from, to: $to) { points { postsPublished likesGained commentsGained hours } } }`, dayVars, &daily)
		if len(daily.Metrics) == 1 && len(daily.Metrics[0].Points) == 1 && daily.Metrics[0].Points[0].PostsPublished > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	want, err := p.ch.Series(context.Background(), clickhouse.SeriesQuery{UserID: userID, Grain: clickhouse.Day, From: day, To: day.Add(24 * time.Hour)})
	if err != nil || len(want) != 1 || len(daily.Metrics) != 1 || len(daily.Metrics[0].Points) != 1 {
		t.Fatalf("daily = %+v, want %+v (%v)", daily, want, err)
	}
	if g := daily.Metrics[0].Points[0]; g.PostsPublished != int64(want[0].PostsPublished) || g.LikesGained != want[0].LikesGained ||
		g.CommentsGained != want[0].CommentsGained || g.Hours != int64(want[0].Hours) || g.PostsPublished == 0 {
		t.Fatalf("daily point = %+v, want %+v (with the newest post's day's posts)", g, want[0])
	}

	// Another user sees none of it.
	var other metricsResult
	p.graphql(t, otherToken, metricsQuery, vars, &other)
	if len(other.Metrics) != 0 || len(other.Feed) != 0 {
		t.Fatalf("another user sees %+v", other)
	}
}
