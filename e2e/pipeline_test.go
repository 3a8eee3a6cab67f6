package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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

// pipeline is every Pulse component wired together on real engines.
type pipeline struct {
	pg     *postgres.DB
	ch     *clickhouse.DB
	sim    *sim.Server
	api    *httptest.Server
	cancel context.CancelFunc
	errs   chan error
	n      int
}

func (p *pipeline) run(ctx context.Context, name string, fn func(context.Context) error) {
	p.n++
	go func() {
		err := fn(ctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%s: %w", name, err)
		} else {
			err = nil
		}
		p.errs <- err
	}()
}

func startPipeline(t *testing.T, now func() time.Time) *pipeline {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &pipeline{cancel: cancel, errs: make(chan error, 8)}
	broker, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	brokers := broker.Addrs()
	var specs []kafka.TopicSpec
	for _, tp := range topics.All {
		specs = append(specs, kafka.TopicSpec{Name: tp})
	}
	repl, err := kafka.EnsureTopics(ctx, brokers, 0, specs...)
	if err != nil {
		t.Fatal(err)
	}

	p.pg = postgres.MustOpenTest(t)
	p.ch = clickhouse.MustOpenTest(t)
	p.sim, err = sim.New(sim.Config{Seed: 7, Clock: now})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(p.sim.Handler())
	t.Cleanup(simSrv.Close)
	conns := map[topics.Platform]platforms.Connector{}
	parsers := map[topics.Platform]normalizer.Parser{}
	for _, pl := range p.sim.Platforms() {
		c, err := platforms.New(pl, platforms.Config{BaseURL: sim.BaseURL(simSrv.URL, pl), AuthBaseURL: sim.BaseURL(simSrv.URL, pl),
			ClientID: "pulse-e2e", ClientSecret: "secret", RedirectURL: "http://127.0.0.1/oauth/cb"})
		if err != nil {
			t.Fatal(err)
		}
		conns[pl], parsers[pl] = c, c
	}

	sched, err := scheduler.New(scheduler.Config{Brokers: brokers, Links: p.pg, Tick: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fet, err := fetcher.New(fetcher.Config{Brokers: brokers, Links: p.pg, Connectors: conns, Clock: now})
	if err != nil {
		t.Fatal(err)
	}
	g := kafka.NewGoka(brokers, repl)
	proc, err := normalizer.New(normalizer.Config{Brokers: brokers, Parsers: parsers,
		Options: append(g.ProcessorOptions(), goka.WithStorageBuilder(storage.MemoryBuilder()))})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := chsink.New(chsink.Config{Brokers: brokers, Store: p.ch, FlushInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Accounts: p.pg, Metrics: p.ch})
	if err != nil {
		t.Fatal(err)
	}
	p.api = httptest.NewServer(srv.Handler())

	p.run(ctx, "scheduler", sched.Run)
	p.run(ctx, "fetcher", fet.Run)
	p.run(ctx, "processor", func(ctx context.Context) error { return normalizer.Run(ctx, proc) })
	p.run(ctx, "sink", sink.Run)
	t.Cleanup(func() {
		p.api.Close()
		p.cancel()
		for range p.n {
			if err := <-p.errs; err != nil {
				t.Error(err)
			}
		}
	})
	return p
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
  metrics(grain: HOUR, from: $from, to: $to, platforms: [X]) { platform accountId points { at followers } }
  feed(limit: 5) { id platform likes }
}`

type metricsResult struct {
	Metrics []struct {
		Platform  string
		AccountID string
		Points    []struct {
			At        time.Time
			Followers int64
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
	ctx := context.Background()

	token, userID := p.mustSignUp(t, "e2e@example.com")
	otherToken, _ := p.mustSignUp(t, "other@example.com")
	acct := p.sim.Accounts(topics.X)[0]
	access, refresh, expiry, err := p.sim.IssueToken(topics.X, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.pg.UpsertLink(ctx, userID, topics.X, acct.ID, acct.Handle,
		&oauth2.Token{AccessToken: access, RefreshToken: refresh, TokenType: "bearer", Expiry: expiry}, "tweet.read users.read"); err != nil {
		t.Fatal(err)
	}
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
		if len(got.Metrics) > 0 && len(got.Feed) > 0 || time.Now().After(deadline) {
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

	// Another user sees none of it.
	var other metricsResult
	p.graphql(t, otherToken, metricsQuery, vars, &other)
	if len(other.Metrics) != 0 || len(other.Feed) != 0 {
		t.Fatalf("another user sees %+v", other)
	}
}
