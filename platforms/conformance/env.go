package conformance

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/sim"
)

// Start is the simulator's clock when an Env starts.
var Start = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// Defaults of the connector config an Env builds.
const (
	// ClientID and ClientSecret are the app credentials Envs use; the
	// simulator accepts any app unless the harness registers clients.
	ClientID     = "pulse-conformance"
	ClientSecret = "conformance-app-secret"
	// Seed is the simulator's seed.
	Seed = 2026
	// DefaultMaxPostPages is the MaxPostPages of an Env's connector.
	DefaultMaxPostPages = 2
)

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t (which may be earlier).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Env is a simulator served over HTTP with a fake clock, and a connector
// of the harness's platform pointed at it. Everything is closed when the
// test ends.
type Env struct {
	T      *testing.T
	H      Harness
	Sim    *sim.Server
	Server *httptest.Server
	Clock  *Clock
	// Config is the connector's config: BaseURL and AuthBaseURL at the
	// simulator, ClientID, ClientSecret, a redirect URL, the test server's
	// HTTP client and MaxPostPages DefaultMaxPostPages.
	Config platforms.Config
	Conn   platforms.Connector

	secrets map[string]bool
}

// NewEnv starts a simulator (configured by the harness's Sim, then by
// simCfg when not nil; fake clock at Start, seed Seed) and builds the
// harness's connector against it (its config edited by edit when not
// nil).
func NewEnv(t *testing.T, h Harness, simCfg func(*sim.Config), edit func(*platforms.Config)) *Env {
	t.Helper()
	clock := NewClock(Start)
	sc := sim.Config{Seed: Seed, Clock: clock.Now}
	if h.Sim != nil {
		h.Sim(&sc)
	}
	if simCfg != nil {
		simCfg(&sc)
	}
	srv, err := sim.New(sc)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	base := sim.BaseURL(ts.URL, h.Platform)
	e := &Env{
		T: t, H: h, Sim: srv, Server: ts, Clock: clock,
		Config: platforms.Config{
			BaseURL:      base,
			AuthBaseURL:  base,
			ClientID:     ClientID,
			ClientSecret: ClientSecret,
			RedirectURL:  "https://pulse.example/oauth/" + string(h.Platform) + "/callback",
			HTTPClient:   ts.Client(),
			MaxPostPages: DefaultMaxPostPages,
		},
		secrets: map[string]bool{ClientSecret: true},
	}
	if edit != nil {
		edit(&e.Config)
	}
	e.Conn = e.NewConn(nil)
	return e
}

// NewConn builds another connector against the Env's simulator, from the
// Env's config edited by edit (when not nil).
func (e *Env) NewConn(edit func(*platforms.Config)) platforms.Connector {
	e.T.Helper()
	cfg := e.Config
	if edit != nil {
		edit(&cfg)
	}
	if cfg.ClientSecret != "" {
		e.secrets[cfg.ClientSecret] = true
	}
	c, err := e.H.New(cfg, e.Clock.Now)
	if err != nil {
		e.T.Fatalf("new connector: %v", err)
	}
	if c.Platform() != e.H.Platform {
		e.T.Fatalf("connector serves %q, want %q", c.Platform(), e.H.Platform)
	}
	return c
}

// Account returns the i-th synthetic account.
func (e *Env) Account(i int) sim.Account {
	e.T.Helper()
	accts := e.Sim.Accounts(e.H.Platform)
	if i >= len(accts) {
		e.T.Fatalf("the simulator has %d %s accounts, not %d", len(accts), e.H.Platform, i+1)
	}
	return accts[i]
}

// Token issues a token for the i-th account directly from the simulator,
// as `pulse dev` does.
func (e *Env) Token(i int) *oauth2.Token {
	e.T.Helper()
	access, refresh, exp, err := e.Sim.IssueToken(e.H.Platform, e.Account(i).ID)
	if err != nil {
		e.T.Fatalf("IssueToken: %v", err)
	}
	e.Remember(access, refresh)
	return &oauth2.Token{AccessToken: access, RefreshToken: refresh, TokenType: "bearer", Expiry: exp}
}

// Remember adds secrets to those no error message may contain, along with
// every code and token the simulator holds now.
func (e *Env) Remember(secrets ...string) {
	for _, s := range append(secrets, e.Sim.Secrets()...) {
		if len(s) >= 8 {
			e.secrets[s] = true
		}
	}
}

// Fetch calls the connector's Fetch, remembering the simulator's tokens
// (Page tokens included) before and after.
func (e *Env) Fetch(ctx context.Context, tok *oauth2.Token, cursor string) (*platforms.Fetch, error) {
	e.Remember()
	if tok != nil {
		e.Remember(tok.AccessToken, tok.RefreshToken)
	}
	return e.FetchReq(ctx, tok, platforms.Request{Cursor: cursor})
}

// FetchReq is Fetch with a whole request.
func (e *Env) FetchReq(ctx context.Context, tok *oauth2.Token, req platforms.Request) (*platforms.Fetch, error) {
	e.Remember()
	if tok != nil {
		e.Remember(tok.AccessToken, tok.RefreshToken)
	}
	f, err := e.Conn.Fetch(ctx, tok, req)
	e.Remember()
	return f, err
}

// Authorize runs the consent step of the connector's OAuth flow in the
// simulator and returns the redirect, after checking that it goes to the
// connector's redirect URL with the state.
func (e *Env) Authorize(cfg *oauth2.Config, state string, c sim.Consent, opts ...oauth2.AuthCodeOption) *url.URL {
	e.T.Helper()
	loc, err := sim.Authorize(e.T.Context(), e.Server.Client(), cfg.AuthCodeURL(state, opts...), c)
	if err != nil {
		e.T.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != cfg.RedirectURL {
		e.T.Errorf("redirected to %s, want %s", got, cfg.RedirectURL)
	}
	if loc.Query().Get("state") != state {
		e.T.Errorf("state not echoed: %s", loc.RawQuery)
	}
	e.Remember(loc.Query().Get("code"))
	return loc
}

// ExpectError asserts that err is a *platforms.Error of the harness's
// platform and class want, whose message contains no secret the Env knows,
// and returns it.
func (e *Env) ExpectError(err error, want platforms.Class) *platforms.Error {
	e.T.Helper()
	if err == nil {
		e.T.Fatalf("no error, want %v", want)
	}
	var pe *platforms.Error
	if !errors.As(err, &pe) {
		e.T.Fatalf("error %v (%T) is not a *platforms.Error", err, err)
	}
	if pe.Class != want {
		e.T.Fatalf("class %v, want %v: %v", pe.Class, want, err)
	}
	if pe.Platform != e.H.Platform {
		e.T.Errorf("error of platform %q, want %q", pe.Platform, e.H.Platform)
	}
	e.NoLeak(err)
	return pe
}

// NoLeak asserts that err's message contains no secret the Env knows.
func (e *Env) NoLeak(err error) {
	e.T.Helper()
	if err == nil {
		return
	}
	e.Remember()
	msg := err.Error()
	for s := range e.secrets {
		if strings.Contains(msg, s) {
			e.T.Errorf("error message contains a secret (%.4s…): %s", s, msg)
		}
	}
}

// ParseAll parses every posts body of f, in order.
func (e *Env) ParseAll(f *platforms.Fetch) []platforms.PostData {
	e.T.Helper()
	var out []platforms.PostData
	for i, b := range f.PostBodies {
		posts, err := e.Conn.ParsePosts(b)
		if err != nil {
			e.T.Fatalf("ParsePosts(page %d): %v", i, err)
		}
		out = append(out, posts...)
	}
	return out
}
