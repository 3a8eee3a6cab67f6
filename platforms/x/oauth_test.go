package x

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

func TestOAuth2Config(t *testing.T) {
	c, err := New(platforms.Config{ClientID: "id", ClientSecret: "secret", RedirectURL: testRedirect})
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.OAuth2()
	if cfg.Endpoint.AuthURL != "https://x.com/i/oauth2/authorize" || cfg.Endpoint.TokenURL != "https://api.x.com/2/oauth2/token" {
		t.Errorf("endpoints %+v", cfg.Endpoint)
	}
	if strings.Join(cfg.Scopes, " ") != "tweet.read users.read offline.access" {
		t.Errorf("scopes %v", cfg.Scopes)
	}
	if cfg.Endpoint.AuthStyle != oauth2.AuthStyleInHeader || cfg.ClientID != "id" || cfg.RedirectURL != testRedirect {
		t.Errorf("config %+v", cfg)
	}
	cfg.Scopes[0] = "mutated"
	if c.OAuth2().Scopes[0] != "tweet.read" {
		t.Error("OAuth2 returned shared state")
	}
	if !c.UsesPKCE() || c.Platform() != topics.X {
		t.Error("UsesPKCE or Platform wrong")
	}

	pub, _ := New(platforms.Config{ClientID: "id", BaseURL: "http://127.0.0.1:9/x/", AuthBaseURL: "http://127.0.0.1:9/x"})
	cfg = pub.OAuth2()
	if cfg.Endpoint.AuthStyle != oauth2.AuthStyleInParams {
		t.Errorf("public client auth style %v", cfg.Endpoint.AuthStyle)
	}
	if cfg.Endpoint.TokenURL != "http://127.0.0.1:9/x/2/oauth2/token" || cfg.Endpoint.AuthURL != "http://127.0.0.1:9/x/i/oauth2/authorize" {
		t.Errorf("endpoints %+v", cfg.Endpoint)
	}
}

func TestCodeFlowWithPKCE(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	cfg := e.conn.OAuth2()
	verifier := oauth2.GenerateVerifier()
	want := e.account(2)

	// A wrong verifier is refused, and spends the code.
	code := e.authorize(cfg, verifier, want)
	_, err := e.conn.Exchange(ctx(t), code, oauth2.GenerateVerifier())
	pe := platformError(t, err, platforms.Permanent, code, verifier)
	if pe.Status != http.StatusBadRequest || pe.Op != "exchange" {
		t.Errorf("wrong verifier: %+v", pe)
	}
	if _, err := e.conn.Exchange(ctx(t), code, verifier); err == nil {
		t.Error("code reusable after a failed exchange")
	}

	// The right verifier gets a token for the chosen account.
	code = e.authorize(cfg, verifier, want)
	tok, err := e.conn.Exchange(ctx(t), code, verifier)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Expiry.IsZero() || tok.Type() != "Bearer" {
		t.Errorf("token %+v", tok)
	}
	f, err := e.conn.Fetch(ctx(t), tok, platforms.Request{})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if f.AccountID != want {
		t.Errorf("fetched account %s, want %s", f.AccountID, want)
	}

	// Replaying the code fails (and the simulator revokes its tokens).
	_, err = e.conn.Exchange(ctx(t), code, verifier)
	platformError(t, err, platforms.Permanent, code, verifier, tok.AccessToken, tok.RefreshToken)
	_, err = e.conn.Fetch(ctx(t), tok, platforms.Request{})
	platformError(t, err, platforms.Reauth, tok.AccessToken)
}

func TestCodeFlowConfidentialClient(t *testing.T) {
	e := newEnv(t, sim.Config{X: sim.XConfig{Clients: map[string]string{"pulse-app": "s3cret+/="}}}, func(c *platforms.Config) {
		c.ClientSecret = "s3cret+/="
	})
	verifier := oauth2.GenerateVerifier()
	code := e.authorize(e.conn.OAuth2(), verifier, "")
	if _, err := e.conn.Exchange(ctx(t), code, verifier); err != nil {
		t.Fatalf("Exchange with Basic auth: %v", err)
	}

	bad := newEnv(t, sim.Config{X: sim.XConfig{Clients: map[string]string{"pulse-app": "s3cret"}}}, func(c *platforms.Config) {
		c.ClientSecret = "wrong-secret"
	})
	code = bad.authorize(bad.conn.OAuth2(), verifier, "")
	_, err := bad.conn.Exchange(ctx(t), code, verifier)
	pe := platformError(t, err, platforms.Permanent, "wrong-secret", code)
	if pe.Status != http.StatusUnauthorized {
		t.Errorf("status %d", pe.Status)
	}
}

func TestRefreshRotates(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	verifier := oauth2.GenerateVerifier()
	tok, err := e.conn.Exchange(ctx(t), e.authorize(e.conn.OAuth2(), verifier, ""), verifier)
	if err != nil {
		t.Fatal(err)
	}
	before := [2]string{tok.AccessToken, tok.RefreshToken}
	nt, err := e.conn.Refresh(ctx(t), tok)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if [2]string{tok.AccessToken, tok.RefreshToken} != before {
		t.Error("Refresh modified its argument")
	}
	if nt.AccessToken == tok.AccessToken || nt.RefreshToken == tok.RefreshToken || nt.RefreshToken == "" {
		t.Errorf("tokens not rotated: %+v", nt)
	}
	if _, err := e.conn.Fetch(ctx(t), nt, platforms.Request{}); err != nil {
		t.Errorf("Fetch with refreshed token: %v", err)
	}
	// The old refresh token is dead: the user must relink.
	_, err = e.conn.Refresh(ctx(t), tok)
	pe := platformError(t, err, platforms.Reauth, tok.RefreshToken, tok.AccessToken)
	if pe.Status != http.StatusBadRequest || pe.Op != "refresh" {
		t.Errorf("old refresh token: %+v", pe)
	}
	// So is a revoked one.
	e.sim.Revoke(nt.RefreshToken)
	_, err = e.conn.Refresh(ctx(t), nt)
	platformError(t, err, platforms.Reauth, nt.RefreshToken)

	_, err = e.conn.Refresh(ctx(t), &oauth2.Token{AccessToken: "only-access-token"})
	platformError(t, err, platforms.Reauth, "only-access-token")
}

func TestRefreshIssuedToken(t *testing.T) {
	// `pulse dev` seeds links with simulator-issued tokens; the connector's
	// app must be able to refresh them.
	e := newEnv(t, sim.Config{}, nil)
	nt, err := e.conn.Refresh(ctx(t), e.token(0))
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if f, err := e.conn.Fetch(ctx(t), nt, platforms.Request{}); err != nil || f.AccountID != e.account(0) {
		t.Errorf("Fetch with the refreshed token: %v", err)
	}
}

func TestTokenEndpointFailures(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   platforms.Class
	}{
		{http.StatusServiceUnavailable, `{"title":"Service Unavailable"}`, platforms.Transient},
		{http.StatusTooManyRequests, `{"title":"Too Many Requests"}`, platforms.Throttled},
		{http.StatusUnauthorized, `{"error":"invalid_client","error_description":"bad"}`, platforms.Permanent},
		{http.StatusBadRequest, `{"error":"invalid_request","error_description":"echo refresh-token-SECRET"}`, platforms.Reauth},
	} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Rate-Limit-Reset", "1900000000")
			w.WriteHeader(c.status)
			w.Write([]byte(c.body))
		}))
		conn, _ := New(platforms.Config{BaseURL: ts.URL, ClientID: "id", HTTPClient: ts.Client()})
		_, err := conn.Refresh(ctx(t), &oauth2.Token{RefreshToken: "refresh-token-SECRET"})
		pe := platformError(t, err, c.want, "refresh-token-SECRET")
		if pe.Status != c.status {
			t.Errorf("%d: status %d", c.status, pe.Status)
		}
		if c.want == platforms.Throttled && pe.RetryAfter.Unix() != 1900000000 {
			t.Errorf("RetryAfter %v", pe.RetryAfter)
		}
		ts.Close()
	}

	// Unreachable token endpoint.
	ts := httptest.NewServer(http.NotFoundHandler())
	ts.Close()
	conn, _ := New(platforms.Config{BaseURL: ts.URL, ClientID: "id"})
	_, err := conn.Exchange(ctx(t), "some-code-value", "some-verifier-value")
	platformError(t, err, platforms.Transient, "some-code-value", "some-verifier-value")

	// A parse-only connector cannot exchange or refresh.
	conn, _ = New(platforms.Config{})
	_, err = conn.Exchange(ctx(t), "code", "")
	platformError(t, err, platforms.Permanent)
	_, err = conn.Refresh(ctx(t), &oauth2.Token{RefreshToken: "r"})
	platformError(t, err, platforms.Permanent)
	conn, _ = New(platforms.Config{ClientID: "id"})
	_, err = conn.Exchange(ctx(t), "", "")
	platformError(t, err, platforms.Permanent)
}
