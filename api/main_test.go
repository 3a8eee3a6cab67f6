package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/platforms"
	_ "github.com/pulsehq/pulse/platforms/all"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) {
	testkit.WrapTestMain(m)
}

// testPassword satisfies the password policy.
const testPassword = "correct horse battery staple"

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// noMetrics is an analytics store without data.
type noMetrics struct{}

func (noMetrics) Series(context.Context, pulse.SeriesQuery) ([]pulse.Point, error) {
	return nil, nil
}

func (noMetrics) Feed(context.Context, pulse.FeedQuery) ([]pulse.PostRow, error) {
	return nil, nil
}

func (noMetrics) Trends(context.Context, pulse.TrendQuery) ([]pulse.Trend, error) {
	return nil, nil
}

func (noMetrics) PostHistory(context.Context, pulse.PostHistoryQuery) ([]pulse.PostPoint, error) {
	return nil, nil
}

func (noMetrics) LastObserved(context.Context, string, time.Time) (map[string]time.Time, error) {
	return nil, nil
}

// env is the API on a real PostgreSQL database, with an X connector
// pointed at the simulator, served over HTTP.
type env struct {
	pg     *postgres.DB
	sim    *sim.Server
	simURL string
	srv    *httptest.Server
	conns  map[topics.Platform]platforms.Connector
	skew   atomic.Int64 // added to the API's clock, in nanoseconds
	logs   *syncBuffer
	// bodyRead counts the request body bytes the API has read.
	bodyRead atomic.Int64
	// api is the server under test.
	api *api.Server
	// mail records the mails the API sends.
	mail *mailbox
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

// to returns the mails sent to addr, oldest first.
func (m *mailbox) to(addr string) []pulse.Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []pulse.Mail
	for _, mail := range m.mails {
		if mail.To == addr {
			out = append(out, mail)
		}
	}
	return out
}

var verifyLink = regexp.MustCompile(`/#/verify\?token=([A-Za-z0-9_-]+)`)

// signUpToken returns the token of the latest verification link mailed to
// addr, failing the test if there is none.
func (m *mailbox) signUpToken(t *testing.T, addr string) string {
	t.Helper()
	mails := m.to(addr)
	for i := len(mails) - 1; i >= 0; i-- {
		if l := verifyLink.FindStringSubmatch(mails[i].Text); l != nil {
			return l[1]
		}
	}
	t.Fatalf("no verification link mailed to %s: %+v", addr, mails)
	return ""
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type envOption func(*api.Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnvServer(t, httptest.NewServer, opts...)
}

func newEnvServer(t *testing.T, serve func(http.Handler) *httptest.Server, opts ...envOption) *env {
	t.Helper()
	e := &env{pg: pgtest.MustOpen(t), logs: &syncBuffer{}, mail: &mailbox{}}
	var err error
	if e.sim, err = sim.New(sim.Config{Seed: 5}); err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(e.sim.Handler())
	t.Cleanup(simSrv.Close)
	e.simURL = simSrv.URL

	// The connectors need the API's URL for their redirect URI.
	var handler atomic.Pointer[http.Handler]
	e.srv = serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = countingBody{r.Body, &e.bodyRead}
		}
		(*handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	base := sim.BaseURL(simSrv.URL, topics.X)
	x, err := platforms.New(topics.X, platforms.Config{BaseURL: base, AuthBaseURL: base,
		ClientID: "pulse-test", ClientSecret: "secret", RedirectURL: e.srv.URL + "/oauth/x/callback"})
	if err != nil {
		t.Fatal(err)
	}
	e.conns = map[topics.Platform]platforms.Connector{topics.X: x}
	cfg := api.Config{
		Users: e.pg, Sessions: e.pg, Throttle: e.pg, OAuthStates: e.pg, Links: e.pg, Purges: e.pg,
		Metrics: noMetrics{}, Connectors: e.conns, Mailer: e.mail, PublicURL: e.srv.URL,
		Clock:  func() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) },
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.api = s
	h := s.Handler()
	handler.Store(&h)
	return e
}

// assertNoSecrets fails if the API's logs contain any of the secrets.
func (e *env) assertNoSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	logs := e.logs.String()
	for _, s := range secrets {
		if len(s) >= 8 && strings.Contains(logs, s) {
			t.Fatalf("logs contain a secret (%.4s…):\n%s", s, logs)
		}
	}
}

// browser is a user agent with a cookie jar that does not follow
// redirects, so tests see each hop.
type browser struct {
	t      *testing.T
	e      *env
	c      *http.Client
	origin string
	bearer string // sent instead of cookies when set
}

func (e *env) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := new(http.Client)
	*c = *e.srv.Client() // a copy: each browser has its own jar
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, e: e, c: c, origin: e.srv.URL}
}

// response is a read HTTP response.
type response struct {
	*http.Response
	body []byte
}

func (r response) location() string { return r.Header.Get("Location") }

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	if b.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+b.bearer)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return response{resp, body}
}

func (b *browser) get(u string) response {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.e.srv.URL + u
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

// postJSON posts v as JSON, from the API's own origin.
func (b *browser) postJSON(path string, v any) response {
	b.t.Helper()
	body, _ := json.Marshal(v)
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if b.origin != "" {
		req.Header.Set("Origin", b.origin)
	}
	return b.do(req)
}

// completeSignUp signs up email with password and opens the link mailed
// to it: it returns the answer to POST /auth/verify.
func (b *browser) completeSignUp(email, password string) response {
	b.t.Helper()
	r := b.postJSON("/auth/signup", map[string]string{"email": email, "password": password})
	if r.StatusCode != http.StatusAccepted {
		b.t.Fatalf("signup %s: %d %s", email, r.StatusCode, r.body)
	}
	return b.postJSON("/auth/verify", map[string]string{"token": b.e.mail.signUpToken(b.t, email)})
}

// signUp creates a user, signing the browser in, and returns its id and
// the response's bearer token.
func (b *browser) signUp(email string) (id, token string) {
	b.t.Helper()
	r := b.completeSignUp(email, testPassword)
	if r.StatusCode != http.StatusCreated {
		b.t.Fatalf("verify sign-up of %s: %d %s", email, r.StatusCode, r.body)
	}
	var out struct {
		Token string
		User  struct{ ID string }
	}
	r.json(b.t, &out)
	return out.User.ID, out.Token
}

func (b *browser) login(email, password string) response {
	b.t.Helper()
	return b.postJSON("/auth/login", map[string]string{"email": email, "password": password})
}

type gqlError struct {
	Message    string
	Extensions struct{ Code string }
}

// graphql runs query and decodes data into out (if not nil); it returns
// the errors.
func (b *browser) graphql(query string, vars map[string]any, out any) []gqlError {
	b.t.Helper()
	r := b.postJSON("/graphql", map[string]any{"query": query, "variables": vars})
	var env struct {
		Data   json.RawMessage
		Errors []gqlError
	}
	r.json(b.t, &env)
	if out != nil && len(env.Data) > 0 && string(env.Data) != "null" {
		if err := json.Unmarshal(env.Data, out); err != nil {
			b.t.Fatalf("decode data %s: %v", env.Data, err)
		}
	}
	return env.Errors
}

// mustGraphQL is graphql failing the test on errors.
func (b *browser) mustGraphQL(query string, vars map[string]any, out any) {
	b.t.Helper()
	if errs := b.graphql(query, vars, out); len(errs) > 0 {
		b.t.Fatalf("graphql %s: %+v", query, errs)
	}
}

// wantGraphQLError runs query and fails unless it errs with code.
func (b *browser) wantGraphQLError(query string, vars map[string]any, code string) {
	b.t.Helper()
	errs := b.graphql(query, vars, nil)
	if len(errs) == 0 || errs[0].Extensions.Code != code {
		b.t.Fatalf("graphql %s: errors %+v, want %s", query, errs, code)
	}
}

// startLink starts linking platform through GET /oauth/{platform}/start and
// returns the authorize URL.
func (b *browser) startLink(platform string) *url.URL {
	b.t.Helper()
	r := b.get("/oauth/" + platform + "/start")
	if r.StatusCode != http.StatusFound {
		b.t.Fatalf("start %s: %d %s", platform, r.StatusCode, r.body)
	}
	u, err := url.Parse(r.location())
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// authorize plays the user on the simulator's consent page for authURL:
// it loads the page, then approves (or denies) as the simulator's account
// i, and returns where the platform redirects the browser: the callback.
func (b *browser) authorize(authURL *url.URL, i int, decision string) string {
	b.t.Helper()
	page := b.get(authURL.String())
	if page.StatusCode != http.StatusOK || !bytes.Contains(page.body, []byte("<form")) {
		b.t.Fatalf("consent page: %d %s", page.StatusCode, page.body)
	}
	form := authURL.Query()
	form.Set("account", b.e.sim.Accounts(topics.X)[i].ID)
	form.Set("decision", decision)
	target := *authURL
	target.RawQuery = ""
	req, _ := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r := b.do(req)
	if r.StatusCode != http.StatusFound || !strings.HasPrefix(r.location(), b.e.srv.URL+"/oauth/") {
		b.t.Fatalf("consent: %d to %q %s", r.StatusCode, r.location(), r.body)
	}
	return r.location()
}

// link runs the whole flow for the simulator's X account i and fails
// unless it ends linked.
func (b *browser) link(i int) {
	b.t.Helper()
	cb := b.authorize(b.startLink("x"), i, "allow")
	if r := b.get(cb); r.StatusCode != http.StatusFound || r.location() != "/#/accounts?linked=x" {
		b.t.Fatalf("callback: %d to %q %s", r.StatusCode, r.location(), r.body)
	}
}

const linksQuery = `{ links { platform status linkable accounts { id accountId handle status statusReason } } }`

type linksResult struct {
	Links []struct {
		Platform string
		Status   string
		Linkable bool
		Accounts []struct {
			ID, AccountID, Handle, Status string
			StatusReason                  *string
		}
	}
}

// links returns, by platform, its status and number of linked accounts,
// e.g. "X" → "ACTIVE/2".
func (b *browser) links() map[string]string {
	b.t.Helper()
	var res linksResult
	b.mustGraphQL(linksQuery, nil, &res)
	out := map[string]string{}
	for _, p := range res.Links {
		out[p.Platform] = fmt.Sprintf("%s/%d", p.Status, len(p.Accounts))
	}
	return out
}
