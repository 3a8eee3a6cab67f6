package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/topics"
)

// logBuffer collects every log line of the test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// secretRecorder wraps a connector and records every secret that passes
// through it: authorization codes, PKCE verifiers and the tokens the
// platform returns.
type secretRecorder struct {
	platforms.Connector
	mu      sync.Mutex
	secrets map[string]string // secret → what it is
}

func (r *secretRecorder) add(kind string, secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if s != "" {
			r.secrets[s] = kind
		}
	}
}

func (r *secretRecorder) addToken(tok *oauth2.Token) {
	if tok != nil {
		r.add("access token", tok.AccessToken)
		r.add("refresh token", tok.RefreshToken)
	}
}

func (r *secretRecorder) Exchange(ctx context.Context, code, verifier string) (*oauth2.Token, error) {
	r.add("authorization code", code)
	r.add("PKCE verifier", verifier)
	tok, err := r.Connector.Exchange(ctx, code, verifier)
	r.addToken(tok)
	return tok, err
}

func (r *secretRecorder) Refresh(ctx context.Context, tok *oauth2.Token) (*oauth2.Token, error) {
	r.addToken(tok)
	nt, err := r.Connector.Refresh(ctx, tok)
	r.addToken(nt)
	return nt, err
}

func (r *secretRecorder) Fetch(ctx context.Context, tok *oauth2.Token, req platforms.Request) (*platforms.Fetch, error) {
	r.addToken(tok)
	return r.Connector.Fetch(ctx, tok, req)
}

func (r *secretRecorder) kinds() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.secrets))
	for s, k := range r.secrets {
		out[s] = k
	}
	return out
}

// browserClient is a user agent with cookies that does not follow
// redirects.
func browserClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func send(t *testing.T, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func postJSON(t *testing.T, c *http.Client, u string, v any) (*http.Response, []byte) {
	t.Helper()
	body, _ := json.Marshal(v)
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return send(t, c, req)
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return send(t, c, req)
}

// TestLogsHoldNoSecrets runs a user's whole life through every component
// with one logger capturing everything at debug level (the standard log
// package included): sign-up, a wrong password, OAuth linking through the
// simulator's consent page, fetching into ClickHouse and GraphQL, a token
// refresh, a revoked token, and account deletion. The logs must contain
// none of the password, session tokens, authorization code, state, PKCE
// verifier, or access and refresh tokens.
func TestLogsHoldNoSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	old := slog.Default()
	slog.SetDefault(logger) // also routes the standard log package here
	t.Cleanup(func() { slog.SetDefault(old) })

	var recorders []*secretRecorder
	// No per-account spacing: the test refreshes right after a fetch to
	// make the fetcher meet the revoked token.
	p := newPipeline(t, time.Now, time.Now, withLogger(logger),
		withConnectorWrapper(func(c platforms.Connector) platforms.Connector {
			r := &secretRecorder{Connector: c, secrets: map[string]string{}}
			recorders = append(recorders, r)
			return r
		}),
		withScheduler(0, appOnly(3600)),
		withRefresher(time.Minute, 3*time.Hour))
	p.startScheduler()
	p.startFetcher()
	p.startNormalizer()
	p.startAggregator()
	p.startSink()

	const password = "Tr0ub4dor&3-secret-password"
	const wrongPassword = "wrong-password-guess-42"
	secrets := map[string]string{password: "password", wrongPassword: "wrong password"}
	browser := browserClient(t)

	// Sign up; a wrong password once.
	resp, body := p.signUp(t, browser, "ada@example.com", password)
	secrets[p.mail.signUpToken(t, "ada@example.com")] = "sign-up token"
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %d %s", resp.StatusCode, body)
	}
	var signup struct{ Token string }
	if err := json.Unmarshal(body, &signup); err != nil {
		t.Fatal(err)
	}
	secrets[signup.Token] = "bearer token"
	apiURL, _ := url.Parse(p.url)
	for _, c := range browser.Jar.Cookies(apiURL) {
		if c.Name == api.SessionCookie {
			secrets[c.Value] = "session cookie"
		}
	}
	if resp, _ := postJSON(t, http.DefaultClient, p.url+"/auth/login", map[string]string{"email": "ada@example.com", "password": wrongPassword}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}

	// Link two X accounts through the consent page; replay one callback,
	// for the rejection path's logs.
	linkX := func(i int) (callback string) {
		resp, body := get(t, browser, p.url+"/oauth/x/start")
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("start: %d %s", resp.StatusCode, body)
		}
		authURL, _ := url.Parse(resp.Header.Get("Location"))
		secrets[authURL.Query().Get("state")] = "state"
		if resp, body := get(t, browser, authURL.String()); resp.StatusCode != http.StatusOK {
			t.Fatalf("consent page: %d %s", resp.StatusCode, body)
		}
		form := authURL.Query()
		form.Set("account", p.sim.Accounts(topics.X)[i].ID)
		form.Set("decision", "allow")
		consent := *authURL
		consent.RawQuery = ""
		req, _ := http.NewRequest(http.MethodPost, consent.String(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, body = send(t, browser, req)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("consent: %d %s", resp.StatusCode, body)
		}
		callback = resp.Header.Get("Location")
		cb, _ := url.Parse(callback)
		secrets[cb.Query().Get("code")] = "authorization code"
		resp, body = get(t, browser, callback)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/#/accounts?linked=x" {
			t.Fatalf("callback: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		return callback
	}
	callback := linkX(0)
	linkX(1)
	if resp, _ := get(t, browser, callback); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed callback: %d", resp.StatusCode)
	}

	// Fetching: the linked account reaches GraphQL.
	hour := time.Now().UTC().Truncate(time.Hour)
	vars := map[string]any{"from": hour, "to": hour.Add(time.Hour)}
	testkit.Eventually(t, 60*time.Second, func() error {
		var got metricsResult
		p.graphql(t, signup.Token, metricsQuery, vars, &got)
		if len(got.Metrics) == 0 {
			return fmt.Errorf("no metrics; logs:\n%s", logs)
		}
		return nil
	})

	// Token lifecycle: a refresh of both (X rotates both tokens); then the
	// user revokes the app for one account, which the fetcher finds on an
	// on-demand fetch, and for the other, which the refresher finds.
	r, err := p.asm.NewRefresher()
	if err != nil {
		t.Fatal(err)
	}
	if st, err := r.RunOnce(t.Context()); err != nil || st.Refreshed != 2 {
		t.Fatalf("refresh round = %+v, %v", st, err)
	}
	userID := userIDOf(t, p, signup.Token)
	links, err := p.pg.Links(t.Context(), userID)
	if err != nil || len(links) != 2 {
		t.Fatal(links, err)
	}
	for _, l := range links {
		tok, _, err := p.pg.LinkToken(t.Context(), l.ID)
		if err != nil {
			t.Fatal(err)
		}
		p.sim.Revoke(tok.AccessToken)
	}
	if _, err := p.pg.RequestRefresh(t.Context(), userID, links[0].ID); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() error {
		if l, _ := p.pg.LinkByID(t.Context(), links[0].ID); l.Status != pulse.LinkNeedsReauth {
			return fmt.Errorf("the fetcher did not mark the revoked link; logs:\n%s", logs)
		}
		return nil
	})
	if st, err := r.RunOnce(t.Context()); err != nil || st.NeedsReauth != 1 {
		t.Fatalf("revoked round = %+v, %v", st, err)
	}
	if l, _ := p.pg.LinkByID(t.Context(), links[1].ID); l.Status != pulse.LinkNeedsReauth {
		t.Fatalf("revoked link = %+v", l)
	}

	// Delete the account.
	body, _ = json.Marshal(map[string]any{"query": `mutation($pw: String!) { deleteAccount(password: $pw) }`,
		"variables": map[string]string{"pw": password}})
	req, _ := http.NewRequest(http.MethodPost, p.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if resp, body := send(t, browser, req); resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"deleteAccount":true`)) {
		t.Fatalf("deleteAccount: %d %s", resp.StatusCode, body)
	}
	for name := range p.running {
		p.stop(name)
	}

	for _, rec := range recorders {
		for s, kind := range rec.kinds() {
			secrets[s] = kind
		}
	}
	kinds := map[string]bool{}
	for _, k := range secrets {
		kinds[k] = true
	}
	for _, k := range []string{"password", "bearer token", "session cookie", "state", "authorization code",
		"PKCE verifier", "access token", "refresh token"} {
		if !kinds[k] {
			t.Fatalf("the run produced no %s to look for", k)
		}
	}
	out := logs.String()
	// The run did log what it did, so the scan means something.
	for _, want := range []string{"oauth: account linked", "callback with unknown or used state", "refresher: token renewed",
		"fetcher: fetch did not succeed", "refresher: link needs re-authorization", "api: user deleted"} {
		if !strings.Contains(out, want) {
			t.Fatalf("logs lack %q:\n%s", want, out)
		}
	}
	for s, kind := range secrets {
		if strings.Contains(out, s) {
			i := strings.Index(out, s)
			at := out[max(0, i-200):i] + "<" + kind + ">" + out[i+len(s):min(len(out), i+len(s)+50)]
			t.Fatalf("logs contain the %s, at: %q", kind, at)
		}
	}
	t.Logf("scanned %d bytes of logs for %d secrets", len(out), len(secrets))
}

// userIDOf returns the id of the user with the bearer token.
func userIDOf(t *testing.T, p *pipeline, token string) string {
	t.Helper()
	var me struct{ Me struct{ ID string } }
	p.graphql(t, token, `{ me { id } }`, nil, &me)
	return me.Me.ID
}
