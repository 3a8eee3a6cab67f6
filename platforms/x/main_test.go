package x

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/conformance"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

// simStart is the simulator's clock at the start of each test.
var simStart = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

const testRedirect = "https://pulse.example/oauth/x/callback"

// env is a connector wired to a simulator.
type env struct {
	t     *testing.T
	sim   *sim.Server
	ts    *httptest.Server
	clock *conformance.Clock
	conn  *Connector
}

// newEnv starts a simulator with simCfg (fake clock and seed filled in) and
// a connector pointed at it; edit adjusts the connector's config.
func newEnv(t *testing.T, simCfg sim.Config, edit func(*platforms.Config)) *env {
	t.Helper()
	clock := conformance.NewClock(simStart)
	simCfg.Clock = clock.Now
	if simCfg.Seed == 0 {
		simCfg.Seed = 2026
	}
	srv, err := sim.New(simCfg)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	base := sim.BaseURL(ts.URL, topics.X)
	cfg := platforms.Config{
		BaseURL:     base,
		AuthBaseURL: base,
		ClientID:    "pulse-app",
		RedirectURL: testRedirect,
		HTTPClient:  ts.Client(),
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	conn := c.(*Connector)
	conn.backoff = time.Millisecond
	return &env{t: t, sim: srv, ts: ts, clock: clock, conn: conn}
}

// account returns the id of the i-th synthetic account.
func (e *env) account(i int) string { return e.sim.Accounts(topics.X)[i].ID }

// token issues a token for the i-th account directly from the simulator.
func (e *env) token(i int) *oauth2.Token {
	e.t.Helper()
	access, refresh, exp, err := e.sim.IssueToken(topics.X, e.account(i))
	if err != nil {
		e.t.Fatal(err)
	}
	return &oauth2.Token{AccessToken: access, RefreshToken: refresh, TokenType: "bearer", Expiry: exp}
}

// authorize runs the consent step in the simulator as account (the first
// when empty) and returns the authorization code.
func (e *env) authorize(cfg *oauth2.Config, verifier, account string) string {
	e.t.Helper()
	authURL := cfg.AuthCodeURL("state-123", oauth2.S256ChallengeOption(verifier))
	client := *e.ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	// The consent page renders.
	resp, err := client.Get(authURL)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET authorize: %s", resp.Status)
	}

	// Approving it posts the request's parameters back with the account.
	u, _ := url.Parse(authURL)
	form := u.Query()
	if account != "" {
		form.Set("account", account)
	}
	resp, err = client.PostForm(u.Scheme+"://"+u.Host+u.Path, form)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("POST authorize: %s", resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	if loc.Query().Get("state") != "state-123" {
		e.t.Fatalf("state not echoed: %s", loc)
	}
	return loc.Query().Get("code")
}

// platformError asserts err is a *platforms.Error of class want whose
// message contains none of the secrets.
func platformError(t *testing.T, err error, want platforms.Class, secrets ...string) *platforms.Error {
	t.Helper()
	var pe *platforms.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *platforms.Error", err, err)
	}
	if pe.Class != want {
		t.Fatalf("class %v, want %v: %v", pe.Class, want, err)
	}
	if pe.Platform != topics.X {
		t.Errorf("platform %q", pe.Platform)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error message contains a secret: %v", err)
		}
	}
	return pe
}

func ctx(t *testing.T) context.Context { return t.Context() }
