package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/topics"
)

func sessionCookie(t *testing.T, r response) *http.Cookie {
	t.Helper()
	for _, c := range r.Cookies() {
		if c.Name == api.SessionCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", api.SessionCookie, r.Header["Set-Cookie"])
	return nil
}

const meQuery = `{ me { id email } }`

type meResult struct {
	Me *struct{ ID, Email string }
}

func TestSignUpSignInSignOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)

	r := b.completeSignUp("ada@example.com", testPassword)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %d %s", r.StatusCode, r.body)
	}
	c := sessionCookie(t, r)
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" || c.MaxAge != 7*24*3600 {
		t.Fatalf("session cookie = %+v", c)
	}
	var out struct {
		User      struct{ ID, Email string }
		Token     string
		TokenType string
		ExpiresAt time.Time
	}
	r.json(t, &out)
	// The body's token is a bearer token of its own, not the cookie's.
	if out.User.Email != "ada@example.com" || out.Token == "" || out.Token == c.Value || out.TokenType != "Bearer" ||
		out.ExpiresAt.Before(time.Now().Add(59*time.Minute)) || out.ExpiresAt.After(time.Now().Add(61*time.Minute)) {
		t.Fatalf("signup body = %s", r.body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("credentials response is cacheable")
	}

	var me meResult
	b.mustGraphQL(meQuery, nil, &me)
	if me.Me == nil || me.Me.ID != out.User.ID {
		t.Fatalf("me with cookie = %+v", me.Me)
	}
	api := e.browser(t)
	api.bearer, api.origin = out.Token, ""
	me = meResult{}
	api.mustGraphQL(meQuery, nil, &me)
	if me.Me == nil || me.Me.ID != out.User.ID {
		t.Fatalf("me with bearer = %+v", me.Me)
	}

	// Sign out ends the cookie session only.
	r = b.postJSON("/auth/logout", nil)
	if r.StatusCode != http.StatusNoContent || sessionCookie(t, r).MaxAge != -1 {
		t.Fatalf("logout: %d %v", r.StatusCode, r.Header["Set-Cookie"])
	}
	me = meResult{}
	b.mustGraphQL(meQuery, nil, &me)
	if me.Me != nil {
		t.Fatal("still signed in after logout")
	}
	b.wantGraphQLError(linksQuery, nil, "UNAUTHENTICATED")
	api.mustGraphQL(meQuery, nil, &me)
	if me.Me == nil {
		t.Fatal("bearer token ended by the cookie session's logout")
	}

	// Sign in again.
	if r := b.login(" ADA@example.com", testPassword); r.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", r.StatusCode, r.body)
	}
	me = meResult{}
	b.mustGraphQL(meQuery, nil, &me)
	if me.Me == nil || me.Me.ID != out.User.ID {
		t.Fatalf("me after login = %+v", me.Me)
	}
	e.assertNoSecrets(t, testPassword, out.Token, c.Value)
}

func TestBearerTokenForAPIClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *api.Config) { c.BearerTTL = 30 * time.Minute })
	b := e.browser(t)
	b.signUp("ada@example.com")

	client := e.browser(t)
	client.origin = ""
	r := client.postJSON("/auth/token", map[string]string{"email": "ada@example.com", "password": testPassword})
	if r.StatusCode != http.StatusOK || len(r.Cookies()) != 0 {
		t.Fatalf("token: %d %s cookies %v", r.StatusCode, r.body, r.Cookies())
	}
	var out struct {
		Token     string
		TokenType string
		ExpiresAt time.Time
	}
	r.json(t, &out)
	if out.Token == "" || out.TokenType != "Bearer" ||
		out.ExpiresAt.Before(time.Now().Add(29*time.Minute)) || out.ExpiresAt.After(time.Now().Add(31*time.Minute)) {
		t.Fatalf("token body = %s", r.body)
	}
	client.bearer = out.Token
	var me meResult
	client.mustGraphQL(meQuery, nil, &me)
	if me.Me == nil || me.Me.Email != "ada@example.com" {
		t.Fatalf("me = %+v", me.Me)
	}
	// Logging out with the bearer token ends it.
	if r := client.postJSON("/auth/logout", nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	client.wantGraphQLError(linksQuery, nil, "UNAUTHENTICATED")

	r = client.postJSON("/auth/token", map[string]string{"email": "ada@example.com", "password": "wrong password!"})
	if r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token with a wrong password: %d %s", r.StatusCode, r.body)
	}
}

func TestSecureCookieOverTLS(t *testing.T) {
	t.Parallel()
	e := newEnvServer(t, httptest.NewTLSServer)
	b := e.browser(t)
	r := b.completeSignUp("ada@example.com", testPassword)
	if c := sessionCookie(t, r); r.StatusCode != http.StatusCreated || !c.Secure || !c.HttpOnly {
		t.Fatalf("signup over TLS: %d, cookie %+v", r.StatusCode, c)
	}
	if c := sessionCookie(t, b.postJSON("/auth/logout", nil)); !c.Secure {
		t.Fatalf("logout cookie over TLS = %+v", c)
	}
}

func errorOf(t *testing.T, r response) (code, message string) {
	t.Helper()
	var out struct {
		Error struct{ Code, Message string }
	}
	r.json(t, &out)
	return out.Error.Code, out.Error.Message
}

func TestSignUpAndSignInErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.signUp("ada@example.com")

	for _, tc := range []struct {
		name, email, password string
		status                int
		code, message         string
	}{
		{"weak password", "bob@example.com", "short", http.StatusBadRequest, "invalid", "password must be at least 10 characters"},
		{"bad email", "bob", testPassword, http.StatusBadRequest, "invalid", "invalid email address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.postJSON("/auth/signup", map[string]string{"email": tc.email, "password": tc.password})
			code, msg := errorOf(t, r)
			if r.StatusCode != tc.status || code != tc.code || msg != tc.message {
				t.Fatalf("signup = %d %s", r.StatusCode, r.body)
			}
		})
	}

	// Bad credentials: the same answer for a wrong password and an unknown
	// account.
	wrong := b.login("ada@example.com", "not the password")
	unknown := b.login("nobody@example.com", testPassword)
	for _, r := range []response{wrong, unknown} {
		if code, msg := errorOf(t, r); r.StatusCode != http.StatusUnauthorized || code != "unauthorized" || msg != "invalid email or password" {
			t.Fatalf("login = %d %s", r.StatusCode, r.body)
		}
	}
	if !bytes.Equal(wrong.body, unknown.body) {
		t.Fatalf("answers differ: %s vs %s", wrong.body, unknown.body)
	}
	e.assertNoSecrets(t, testPassword, "not the password")
}

func TestCSRFDefenses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.signUp("ada@example.com")
	creds, _ := json.Marshal(map[string]string{"email": "ada@example.com", "password": testPassword})

	post := func(path, contentType, origin string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		return b.do(req).StatusCode
	}
	mutation, _ := json.Marshal(map[string]string{"query": `mutation { refresh }`})
	for _, tc := range []struct {
		name, path, contentType, origin string
		body                            []byte
		want                            int
	}{
		{"login from another site", "/auth/login", "application/json", "https://evil.example", creds, http.StatusForbidden},
		{"login as a form", "/auth/login", "text/plain", "", creds, http.StatusUnsupportedMediaType},
		{"token from another site", "/auth/token", "application/json", "https://evil.example", creds, http.StatusForbidden},
		{"logout from another site", "/auth/logout", "application/json", "https://evil.example", nil, http.StatusForbidden},
		{"mutation from another site", "/graphql", "application/json", "https://evil.example", mutation, http.StatusForbidden},
		{"mutation as a form", "/graphql", "application/x-www-form-urlencoded", "", mutation, http.StatusUnsupportedMediaType},
		{"same-origin login", "/auth/login", "application/json; charset=utf-8", e.srv.URL, creds, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(tc.path, tc.contentType, tc.origin, tc.body); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
		})
	}
	// Mutations are refused over GET.
	if r := b.get("/graphql?query=" + "mutation%7Brefresh%7D"); r.StatusCode == http.StatusOK || bytes.Contains(r.body, []byte(`"refresh"`)) {
		t.Fatalf("mutation over GET: %d %s", r.StatusCode, r.body)
	}
}

// wantThrottled checks a 429 answer.
func wantThrottled(t *testing.T, r response, window time.Duration) {
	t.Helper()
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	code, msg := errorOf(t, r)
	if r.StatusCode != http.StatusTooManyRequests || err != nil || secs < 1 || secs > int(window.Seconds()) ||
		code != "throttled" || !strings.HasPrefix(msg, "too many sign-in attempts; try again in") {
		t.Fatalf("want 429 with Retry-After, got %d %q %s", r.StatusCode, r.Header.Get("Retry-After"), r.body)
	}
}

func TestSignInThrottling(t *testing.T) {
	t.Parallel()
	lim := pulse.LoginLimits{Window: 15 * time.Minute, FreeFailures: 2, Backoff: time.Minute, MaxBackoff: 10 * time.Minute, PerClient: 8}
	e := newEnv(t, func(c *api.Config) { c.LoginLimits = lim })
	b := e.browser(t)
	b.signUp("ada@example.com")

	// Three wrong passwords (two free, the third sets the account's
	// delay), then even the right one is refused from this network.
	for range 3 {
		if r := b.login("ada@example.com", "wrong password 1"); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", r.StatusCode)
		}
	}
	existing := b.login("ada@example.com", testPassword)
	wantThrottled(t, existing, lim.Backoff)
	wantThrottled(t, b.postJSON("/auth/token", map[string]string{"email": "ADA@example.com", "password": testPassword}), lim.Backoff)

	// An account that does not exist is throttled identically.
	for range 3 {
		b.login("nobody@example.com", "wrong password 1")
	}
	missing := b.login("nobody@example.com", testPassword)
	wantThrottled(t, missing, lim.Backoff)
	// Identical but for the wait, which counts down between the two.
	wait := regexp.MustCompile(`try again in [a-z0-9 ]+`)
	if !bytes.Equal(wait.ReplaceAll(existing.body, nil), wait.ReplaceAll(missing.body, nil)) {
		t.Fatalf("throttled answers differ: %s vs %s", existing.body, missing.body)
	}

	// Other accounts from the same network still get in, until the
	// network's own limit (8 attempts in the window: 6 failures so far).
	bob := e.browser(t)
	bob.signUp("bob@example.com")
	if r := bob.login("bob@example.com", testPassword); r.StatusCode != http.StatusOK {
		t.Fatalf("another account: %d %s", r.StatusCode, r.body)
	}
	b.login("carol@example.com", "wrong password 1")
	b.login("dave@example.com", "wrong password 1")
	wantThrottled(t, bob.login("bob@example.com", testPassword), lim.Window)
	e.assertNoSecrets(t, testPassword, "wrong password 1")
}

func TestSignInSuccessClearsFailuresAndForwardedFor(t *testing.T) {
	t.Parallel()
	lim := pulse.LoginLimits{Window: time.Hour, FreeFailures: 2, Backoff: time.Hour, MaxBackoff: time.Hour, PerClient: 100}
	e := newEnv(t, func(c *api.Config) { c.LoginLimits, c.TrustForwardedFor = lim, true })
	b := e.browser(t)
	b.signUp("ada@example.com")
	login := func(ip, password string) int {
		body, _ := json.Marshal(map[string]string{"email": "ada@example.com", "password": password})
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/auth/login", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		// A client-supplied entry first; the proxy appended the last one.
		req.Header.Set("X-Forwarded-For", "203.0.113.99, "+ip)
		return b.do(req).StatusCode
	}
	for range 2 {
		login("192.0.2.1", "wrong password 1")
	}
	if s := login("192.0.2.1", testPassword); s != http.StatusOK {
		t.Fatalf("login: %d", s)
	}
	// The slate is clean again: three more failures before refusal.
	for range 3 {
		if s := login("192.0.2.1", "wrong password 1"); s != http.StatusUnauthorized {
			t.Fatalf("failure after success: %d", s)
		}
	}
	if s := login("192.0.2.1", testPassword); s != http.StatusTooManyRequests {
		t.Fatalf("fourth attempt: %d, want 429", s)
	}
	// Another client (per the proxy), which has not failed on the
	// account, is not affected; IPv6 clients are keyed by /64.
	if s := login("198.51.100.2", testPassword); s != http.StatusOK {
		t.Fatalf("other client: %d", s)
	}
	for range 3 {
		login("2001:db8:1:2::1", "wrong password 1")
	}
	if s := login("2001:db8:1:2::ffff", testPassword); s != http.StatusTooManyRequests {
		t.Fatalf("same /64: %d, want 429", s)
	}
	if s := login("2001:db8:1:3::1", testPassword); s != http.StatusOK {
		t.Fatalf("other /64: %d", s)
	}
}

// TestSignInBackoffSparesCleanNetworks: an attacker guessing at an
// account from several networks is delayed on each (Retry-After the
// account's backoff, which grows with each failure from any network:
// postgres' TestAdmitLoginBacksOffPerAccount), while the owner's correct password from a
// network that has not been failing gets in; the attacker stays delayed.
// Every client is named by the trusted proxy.
func TestSignInBackoffSparesCleanNetworks(t *testing.T) {
	t.Parallel()
	lim := pulse.LoginLimits{Window: time.Hour, FreeFailures: 2, Backoff: 30 * time.Second, MaxBackoff: 10 * time.Minute, PerClient: 100}
	e := newEnv(t, func(c *api.Config) {
		c.LoginLimits = lim
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	e.browser(t).signUp("ada@example.com")
	b := e.browser(t)
	login := func(client, email, password string) response {
		body, _ := json.Marshal(map[string]string{"email": email, "password": password})
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/auth/login", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", client)
		return b.do(req)
	}
	const attacker, attacker2, owner = "203.0.113.7", "192.0.2.33", "198.51.100.20"
	// The account's failures add up across networks: two from one, the
	// third from another.
	for i, client := range []string{attacker, attacker, attacker2} {
		if r := login(client, "ada@example.com", fmt.Sprintf("guess number %d", i)); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s", i, r.StatusCode, r.body)
		}
	}
	// The third failure set a delay of Backoff: refused, even the right
	// password, from both failing networks.
	wantThrottled(t, login(attacker, "ada@example.com", testPassword), lim.Backoff)
	wantThrottled(t, login(attacker2, "ada@example.com", testPassword), lim.Backoff)
	// The owner's network has not failed: the right password gets in.
	if r := login(owner, "ada@example.com", testPassword); r.StatusCode != http.StatusOK {
		t.Fatalf("owner from a clean network: %d %s", r.StatusCode, r.body)
	}
	// And the attacker is still delayed.
	wantThrottled(t, login(attacker, "ada@example.com", testPassword), lim.Backoff)
	// An unknown account answers the same way: the delay depends only on
	// the address as typed.
	for i := range 3 {
		login(attacker, "nobody@example.com", fmt.Sprintf("guess number %d", i))
	}
	wantThrottled(t, login(attacker, "nobody@example.com", testPassword), lim.Backoff)
	e.assertNoSecrets(t, testPassword, "guess number 0")
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	full := func(change func(*api.Config)) api.Config {
		c := api.Config{Users: e.pg, Sessions: e.pg, Throttle: e.pg, OAuthStates: e.pg, Links: e.pg, Purges: e.pg, Metrics: noMetrics{}}
		change(&c)
		return c
	}
	for name, cfg := range map[string]api.Config{
		"no stores":       {Metrics: noMetrics{}},
		"no metrics":      full(func(c *api.Config) { c.Metrics = nil }),
		"no users":        full(func(c *api.Config) { c.Users = nil }),
		"no sessions":     full(func(c *api.Config) { c.Sessions = nil }),
		"no throttle":     full(func(c *api.Config) { c.Throttle = nil }),
		"no oauth states": full(func(c *api.Config) { c.OAuthStates = nil }),
		"no links":        full(func(c *api.Config) { c.Links = nil }),
		"no purges":       full(func(c *api.Config) { c.Purges = nil }),
		"partial limits":  full(func(c *api.Config) { c.LoginLimits = pulse.LoginLimits{Window: time.Minute} }),
		"misfiled connector": full(func(c *api.Config) {
			c.Connectors = map[topics.Platform]platforms.Connector{topics.Facebook: e.conns[topics.X]}
		}),
	} {
		if _, err := api.New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := api.New(full(func(*api.Config) {})); err != nil {
		t.Fatalf("complete config: %v", err)
	}
}
