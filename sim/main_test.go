package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

// unsimulated is a platform the simulator does not simulate.
const unsimulated topics.Platform = "myspace"

// start is the fake clock's initial time in the tests.
var start = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: start} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a Server under test, served by httptest.
type env struct {
	t     *testing.T
	srv   *Server
	ts    *httptest.Server
	clock *fakeClock
	base  string // X's base URL
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	clock := newClock()
	if cfg.Clock == nil {
		cfg.Clock = clock.Now
	}
	if cfg.Seed == 0 {
		cfg.Seed = 42
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &env{t: t, srv: srv, ts: ts, clock: clock, base: BaseURL(ts.URL, topics.X)}
}

// token issues a token for the i-th X account.
func (e *env) token(i int) (access, refresh, accountID string) {
	e.t.Helper()
	id := e.srv.Accounts(topics.X)[i].ID
	access, refresh, _, err := e.srv.IssueToken(topics.X, id)
	if err != nil {
		e.t.Fatalf("IssueToken: %v", err)
	}
	return access, refresh, id
}

// get performs a GET on X with a bearer token and returns status, headers
// and body.
func (e *env) get(path, token string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) (int, http.Header, []byte) {
	e.t.Helper()
	c := *e.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// postForm posts form to X's path, with HTTP Basic credentials when user
// is not empty.
func (e *env) postForm(path string, form url.Values, user, pass string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return e.do(req)
}

// postJSON posts v to an admin path of the server.
func (e *env) postJSON(path string, v any) (int, []byte) {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, e.ts.URL+path, strings.NewReader(string(b)))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	status, _, body := e.do(req)
	return status, body
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}
