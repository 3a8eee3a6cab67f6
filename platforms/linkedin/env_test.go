package linkedin

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/conformance"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

// simStart is the simulator's clock at the start of each test.
var simStart = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

const (
	testRedirect = "https://pulse.example/oauth/linkedin/callback"
	testClient   = "pulse-app"
	testSecret   = "pulse-app-secret-0123"
)

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
	base := sim.BaseURL(ts.URL, topics.LinkedIn)
	cfg := platforms.Config{
		BaseURL:      base,
		AuthBaseURL:  base,
		ClientID:     testClient,
		ClientSecret: testSecret,
		RedirectURL:  testRedirect,
		HTTPClient:   ts.Client(),
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := newTest(cfg, clock.Now)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &env{t: t, sim: srv, ts: ts, clock: clock, conn: c.(*Connector)}
}

// account returns the i-th synthetic organization.
func (e *env) account(i int) sim.Account { return e.sim.Accounts(topics.LinkedIn)[i] }

// token issues a token for the i-th organization directly from the
// simulator.
func (e *env) token(i int) *oauth2.Token {
	e.t.Helper()
	access, refresh, exp, err := e.sim.IssueToken(topics.LinkedIn, e.account(i).ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return &oauth2.Token{AccessToken: access, RefreshToken: refresh, Expiry: exp}
}

// authorize runs the consent step as the administrator of the i-th
// organization and returns the code.
func (e *env) authorize(i int) string {
	e.t.Helper()
	loc, err := sim.Authorize(e.t.Context(), e.ts.Client(), e.conn.OAuth2().AuthCodeURL("st4te"), sim.Consent{Account: e.account(i).ID})
	if err != nil {
		e.t.Fatal(err)
	}
	code := loc.Query().Get("code")
	if code == "" || loc.Query().Get("state") != "st4te" {
		e.t.Fatalf("redirect %s", loc)
	}
	return code
}

// platformError asserts err is a LinkedIn *platforms.Error of class want
// whose message contains none of the secrets.
func platformError(t *testing.T, err error, want platforms.Class, secrets ...string) *platforms.Error {
	t.Helper()
	var pe *platforms.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *platforms.Error", err, err)
	}
	if pe.Class != want {
		t.Fatalf("class %v, want %v: %v", pe.Class, want, err)
	}
	if pe.Platform != topics.LinkedIn {
		t.Errorf("platform %q", pe.Platform)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error message contains a secret: %v", err)
		}
	}
	return pe
}
