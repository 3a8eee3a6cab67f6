package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/assembly"
	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/sinks/chsink"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) {
	testkit.WrapTestMain(m)
}

// pipeline is every Pulse component, built by the assembly `pulse dev` and
// the commands use, on real engines. The API runs from the start; each
// other component runs under its own context so tests can stop and
// restart it.
type pipeline struct {
	t       *testing.T
	asm     *assembly.Pulse
	url     string // the API's base URL
	brokers []string
	pg      *postgres.DB
	ch      *clickhouse.DB
	sim     *sim.Server
	conns   map[topics.Platform]platforms.Connector
	running map[string]*component
	mail    *mailbox // the mails the API sent
}

// mailbox is a recording api.Mailer.
type mailbox struct {
	mu    sync.Mutex
	mails []pulse.Mail
}

func (m *mailbox) Send(_ context.Context, mail pulse.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mails = append(m.mails, mail)
	return nil
}

var verifyLink = regexp.MustCompile(`/#/verify\?token=([A-Za-z0-9_-]+)`)

// signUpToken returns the token of the latest verification link mailed to
// addr.
func (m *mailbox) signUpToken(t *testing.T, addr string) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.mails) - 1; i >= 0; i-- {
		if l := verifyLink.FindStringSubmatch(m.mails[i].Text); m.mails[i].To == addr && l != nil {
			return l[1]
		}
	}
	t.Fatalf("no verification link mailed to %s", addr)
	return ""
}

// pipelineOption configures newPipeline's assembly.
type pipelineOption func(*assembly.Config)

// withLogger makes log every component's logger.
func withLogger(log *slog.Logger) pipelineOption {
	return func(c *assembly.Config) { c.Logger = log }
}

// withConnectorWrapper wraps each connector, e.g. to observe it.
func withConnectorWrapper(wrap func(platforms.Connector) platforms.Connector) pipelineOption {
	return func(c *assembly.Config) { c.Platforms.Wrap = wrap }
}

// withScheduler sets the scheduler's interval and limits (zero: its
// defaults; an interval given applies to the limits given too).
func withScheduler(interval time.Duration, limits map[topics.Platform]scheduler.Limits) pipelineOption {
	return func(c *assembly.Config) {
		if limits != nil && interval > 0 {
			limits = maps.Clone(limits)
			for pl, l := range limits {
				l.Interval = interval
				limits[pl] = l
			}
		}
		c.Scheduler.Interval, c.Scheduler.Limits = interval, limits
	}
}

// appOnly returns limits of calls an hour per app on every simulated
// platform, without per-account limits (so nothing is spaced).
func appOnly(perHour float64) map[topics.Platform]scheduler.Limits {
	out := map[topics.Platform]scheduler.Limits{}
	for _, pl := range []topics.Platform{topics.X, topics.Facebook, topics.Instagram, topics.LinkedIn} {
		out[pl] = scheduler.Limits{Scopes: []scheduler.Scope{{Name: "app", Per: scheduler.PerApp, Limit: perHour, Window: time.Hour, Cost: 1}}}
	}
	return out
}

// withMaxPostPages sets the connectors' MaxPostPages.
func withMaxPostPages(n int) pipelineOption {
	return func(c *assembly.Config) { c.Platforms.MaxPostPages = n }
}

// simOption adjusts the simulator's configuration (newPipeline's simOpts).
type simOption func(*sim.Config)

// withRefresher sets the refresher's round interval and renewal margin.
func withRefresher(interval, before time.Duration) pipelineOption {
	return func(c *assembly.Config) { c.Refresher.Interval, c.Refresher.RefreshBefore = interval, before }
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

// startComponent builds a fresh instance of the assembly's component name
// and starts it.
func (p *pipeline) startComponent(name string) {
	p.t.Helper()
	run, err := p.asm.Runner(name)
	if err != nil {
		p.t.Fatal(err)
	}
	p.start(name, run)
}

func (p *pipeline) startScheduler()  { p.startComponent(assembly.Scheduler) }
func (p *pipeline) startFetcher()    { p.startComponent(assembly.Fetcher) }
func (p *pipeline) startNormalizer() { p.startComponent(assembly.Normalizer) }
func (p *pipeline) startAggregator() { p.startComponent(assembly.Aggregator) }

// startSink starts a fresh sink and returns it, for its counters.
func (p *pipeline) startSink() *chsink.Sink {
	s, err := p.asm.NewSink()
	if err != nil {
		p.t.Fatal(err)
	}
	p.start(assembly.Sink, s.Run)
	return s
}

// newPipeline sets up the engines, the simulator and the assembly, and
// starts the API; no other component runs yet. fetchClock is the fetcher's
// clock, simClock the simulator's.
func newPipeline(t *testing.T, fetchClock, simClock func() time.Time, opts ...pipelineOption) *pipeline {
	t.Helper()
	return newPipelineSim(t, fetchClock, simClock, nil, opts...)
}

// newPipelineSim is newPipeline with the simulator's configuration
// adjusted by simOpt.
func newPipelineSim(t *testing.T, fetchClock, simClock func() time.Time, simOpt simOption, opts ...pipelineOption) *pipeline {
	t.Helper()
	p := &pipeline{t: t, running: map[string]*component{}, mail: &mailbox{}}
	broker, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	p.brokers = broker.Addrs()
	p.pg = pgtest.MustOpen(t)
	p.ch = chtest.MustOpen(t)
	sc := sim.Config{Seed: 7, Clock: simClock}
	if simOpt != nil {
		simOpt(&sc)
	}
	p.sim, err = sim.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(p.sim.Handler())
	t.Cleanup(simSrv.Close)
	// The connectors' redirect URI is the API's callback: listen first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	apps := map[topics.Platform]assembly.App{}
	for _, pl := range p.sim.Platforms() {
		apps[pl] = assembly.App{ClientID: "pulse-e2e", ClientSecret: "secret"}
	}
	cfg := assembly.Config{
		Components: assembly.Components,
		Kafka:      assembly.KafkaConfig{Brokers: p.brokers},
		Postgres:   assembly.PostgresConfig{DB: p.pg},
		ClickHouse: assembly.ClickHouseConfig{DB: p.ch},
		Platforms:  assembly.PlatformsConfig{SimURL: simSrv.URL, PublicURL: "http://" + ln.Addr().String(), Apps: apps},
		HTTP:       assembly.HTTPConfig{Listener: ln, Mailer: p.mail},
		Scheduler:  assembly.SchedulerConfig{Tick: 50 * time.Millisecond},
		Fetcher:    assembly.FetcherConfig{Clock: fetchClock},
		Sink:       assembly.SinkConfig{FlushInterval: 100 * time.Millisecond},
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	p.asm, err = assembly.New(t.Context(), cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	p.url = p.asm.URL()
	p.conns = p.asm.Connectors()
	t.Cleanup(func() {
		for name := range p.running {
			p.stop(name)
		}
		if err := p.asm.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	p.startComponent(assembly.API)
	return p
}

// startPipeline is newPipeline with every component running.
func startPipeline(t *testing.T, now func() time.Time) *pipeline {
	t.Helper()
	p := newPipeline(t, now, now)
	p.startScheduler()
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

// signUp signs up email with password through the REST API and opens the
// link mailed to it with client, as its owner would: it returns the answer
// to POST /auth/verify (a session, the cookie in client's jar).
func (p *pipeline) signUp(t *testing.T, client *http.Client, email, password string) (*http.Response, []byte) {
	t.Helper()
	resp, body := postJSON(t, client, p.url+"/auth/signup", map[string]string{"email": email, "password": password})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("signup: %d %s", resp.StatusCode, body)
	}
	return postJSON(t, client, p.url+"/auth/verify", map[string]string{"token": p.mail.signUpToken(t, email)})
}

// mustSignUp creates a user through the REST API and returns its bearer
// token and id.
func (p *pipeline) mustSignUp(t *testing.T, email string) (token, id string) {
	t.Helper()
	resp, body := p.signUp(t, http.DefaultClient, email, "correct horse battery")
	var out struct {
		Token string `json:"token"`
		User  struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &out) != nil || out.Token == "" {
		t.Fatalf("signup: status %d", resp.StatusCode)
	}
	return out.Token, out.User.ID
}

// graphql runs query as the user with token and decodes data into out;
// a GraphQL error fails the test.
func (p *pipeline) graphql(t *testing.T, token, query string, vars map[string]any, out any) {
	t.Helper()
	if errs := p.tryGraphQL(t, token, query, vars, out); len(errs) > 0 {
		t.Fatalf("graphql errors: %+v", errs)
	}
}

// tryGraphQL is graphql returning the GraphQL errors' messages instead.
func (p *pipeline) tryGraphQL(t *testing.T, token, query string, vars map[string]any, out any) []string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, p.url+"/graphql", bytes.NewReader(body))
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
		msgs := make([]string, len(env.Errors))
		for i, e := range env.Errors {
			msgs[i] = e.Message
		}
		return msgs
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		t.Fatal(err)
	}
	return nil
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
	testkit.Eventually(t, 60*time.Second, func() error {
		got = metricsResult{}
		p.graphql(t, token, metricsQuery, vars, &got)
		if len(got.Metrics) > 0 && len(got.Metrics[0].Points) > 0 && got.Metrics[0].Points[0].Hours > 0 && len(got.Feed) > 0 {
			return nil
		}
		return fmt.Errorf("metrics = %+v, feed has %d posts", got.Metrics, len(got.Feed))
	})
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
	testkit.Eventually(t, 30*time.Second, func() error {
		daily = dailyResult{}
		p.graphql(t, token, `query($from: Time!, $to: Time!) { metrics(grain: DAY, from: $from, to: $to) { points { postsPublished likesGained commentsGained hours } } }`, dayVars, &daily)
		if len(daily.Metrics) == 1 && len(daily.Metrics[0].Points) == 1 && daily.Metrics[0].Points[0].PostsPublished > 0 {
			return nil
		}
		return fmt.Errorf("daily = %+v, want one point with the newest post's day's posts", daily)
	})
	want, err := p.ch.Series(context.Background(), pulse.SeriesQuery{UserID: userID, Grain: pulse.GrainDay, From: day, To: day.Add(24 * time.Hour)})
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
