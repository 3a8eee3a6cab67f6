package sim

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse/topics"
)

const (
	testRedirect = "https://pulse.example/oauth/x/callback"
	testVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-verifier-0123"
)

func challenge(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func authParams(clientID, scope string) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {testRedirect},
		"state":                 {"st4te"},
		"scope":                 {scope},
		"code_challenge":        {challenge(testVerifier)},
		"code_challenge_method": {"S256"},
	}
}

// authorize approves the consent form as account (first when empty) and
// returns the code.
func (e *env) authorize(params url.Values, account string) string {
	e.t.Helper()
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	if account != "" {
		form.Set("account", account)
	}
	status, h, body := e.postForm("/i/oauth2/authorize", form, "", "")
	if status != http.StatusFound {
		e.t.Fatalf("authorize: status %d: %s", status, body)
	}
	loc, err := url.Parse(h.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
		e.t.Fatalf("redirected to %s, want %s", got, testRedirect)
	}
	if loc.Query().Get("state") != "st4te" || loc.Query().Get("code") == "" {
		e.t.Fatalf("redirect %s lacks state or code", loc)
	}
	return loc.Query().Get("code")
}

func (e *env) exchange(code, verifier, clientID, secret string) (int, map[string]any) {
	e.t.Helper()
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {testRedirect},
		"code_verifier": {verifier},
	}
	user := ""
	if secret != "" {
		user = clientID
	} else {
		form.Set("client_id", clientID)
	}
	status, _, body := e.postForm("/2/oauth2/token", form, user, secret)
	return status, decode[map[string]any](e.t, body)
}

func TestAuthorizePage(t *testing.T) {
	e := newEnv(t, Config{Accounts: 3})
	u := e.base + "/i/oauth2/authorize?" + authParams("app", "tweet.read users.read offline.access").Encode()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	status, h, body := e.do(req)
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, type %s", status, h.Get("Content-Type"))
	}
	if !strings.Contains(string(body), `action="authorize"`) {
		t.Error("consent form does not post back relatively")
	}
	for _, a := range e.srv.Accounts(topics.X) {
		if !strings.Contains(string(body), `value="`+a.ID+`"`) || !strings.Contains(string(body), "@"+a.Handle) {
			t.Errorf("consent page does not list %s", a.ID)
		}
	}
	for name, mutate := range map[string]func(url.Values){
		"no challenge":     func(v url.Values) { v.Del("code_challenge") },
		"method":           func(v url.Values) { v.Set("code_challenge_method", "S512") },
		"no state":         func(v url.Values) { v.Del("state") },
		"relative":         func(v url.Values) { v.Set("redirect_uri", "/callback") },
		"response_type":    func(v url.Values) { v.Set("response_type", "token") },
		"unknown scope":    func(v url.Values) { v.Set("scope", "tweet.read root") },
		"no client":        func(v url.Values) { v.Del("client_id") },
		"short challenge":  func(v url.Values) { v.Set("code_challenge", "abc") },
		"no scope":         func(v url.Values) { v.Set("scope", " ") },
		"fragment":         func(v url.Values) { v.Set("redirect_uri", testRedirect+"#x") },
		"javascript:alert": func(v url.Values) { v.Set("redirect_uri", "javascript:alert(1)") },
	} {
		p := authParams("app", "tweet.read")
		mutate(p)
		req, _ := http.NewRequest(http.MethodGet, e.base+"/i/oauth2/authorize?"+p.Encode(), nil)
		if status, _, _ := e.do(req); status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, status)
		}
	}
}

func TestMountedUnderPrefix(t *testing.T) {
	srv, err := New(Config{Clock: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sim/", http.StripPrefix("/sim", srv.Handler()))
	ts := httptest.NewServer(mux)
	defer ts.Close()
	e := &env{t: t, srv: srv, ts: ts, base: BaseURL(ts.URL+"/sim", topics.X)}
	code := e.authorize(authParams("app", "tweet.read users.read"), "")
	if status, resp := e.exchange(code, testVerifier, "app", ""); status != http.StatusOK {
		t.Errorf("exchange under /sim: %d %v", status, resp)
	}
}

func TestAuthorizeDenyAndUnknownAccount(t *testing.T) {
	e := newEnv(t, Config{})
	form := authParams("app", "tweet.read")
	form.Set("decision", "deny")
	status, h, _ := e.postForm("/i/oauth2/authorize", form, "", "")
	loc, _ := url.Parse(h.Get("Location"))
	if status != http.StatusFound || loc.Query().Get("error") != "access_denied" || loc.Query().Get("code") != "" {
		t.Errorf("deny: status %d, location %s", status, loc)
	}
	form = authParams("app", "tweet.read")
	form.Set("account", "999")
	if status, _, _ := e.postForm("/i/oauth2/authorize", form, "", ""); status != http.StatusBadRequest {
		t.Errorf("unknown account: status %d, want 400", status)
	}
}

func TestCodeFlow(t *testing.T) {
	e := newEnv(t, Config{})
	second := e.srv.Accounts(topics.X)[1].ID
	scope := "tweet.read users.read offline.access"

	code := e.authorize(authParams("app", scope), second)
	status, tok := e.exchange(code, testVerifier, "app", "")
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, tok)
	}
	if tok["token_type"] != "bearer" || tok["expires_in"] != 7200.0 || tok["scope"] != scope ||
		tok["access_token"] == "" || tok["refresh_token"] == "" {
		t.Errorf("token response %v", tok)
	}
	access := tok["access_token"].(string)
	status, _, body := e.get("/2/users/me", access)
	me := decode[map[string]map[string]any](t, body)
	if status != http.StatusOK || me["data"]["id"] != second {
		t.Errorf("users/me with the new token: %d %s", status, body)
	}

	// Replaying the code fails and revokes what it issued.
	if status, resp := e.exchange(code, testVerifier, "app", ""); status != http.StatusBadRequest || resp["error"] != "invalid_request" {
		t.Errorf("replay: %d %v", status, resp)
	}
	if status, _, _ := e.get("/2/users/me", access); status != http.StatusUnauthorized {
		t.Errorf("token of a replayed code: status %d, want 401", status)
	}
}

func TestCodeRejections(t *testing.T) {
	e := newEnv(t, Config{})
	scope := "tweet.read users.read"
	cases := []struct {
		name   string
		before func()
		code   func() string
		verif  string
		client string
	}{
		{name: "wrong verifier", verif: strings.Repeat("a", 43)},
		{name: "short verifier", verif: "abc"},
		{name: "other client", client: "other"},
		{name: "expired", before: func() { e.clock.Advance(CodeTTL) }},
		{name: "unknown code", code: func() string { return "nope" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code := e.authorize(authParams("app", scope), "")
			if c.code != nil {
				code = c.code()
			}
			if c.before != nil {
				c.before()
			}
			verif, client := testVerifier, "app"
			if c.verif != "" {
				verif = c.verif
			}
			if c.client != "" {
				client = c.client
			}
			if status, resp := e.exchange(code, verif, client, ""); status != http.StatusBadRequest {
				t.Errorf("status %d %v, want 400", status, resp)
			}
			// A failed attempt spends the code.
			if status, _ := e.exchange(code, testVerifier, "app", ""); status != http.StatusBadRequest {
				t.Errorf("code usable after a failed attempt: %d", status)
			}
		})
	}
}

func TestNoRefreshTokenWithoutOfflineAccess(t *testing.T) {
	e := newEnv(t, Config{})
	code := e.authorize(authParams("app", "tweet.read users.read"), "")
	status, tok := e.exchange(code, testVerifier, "app", "")
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %v", status, tok)
	}
	if _, ok := tok["refresh_token"]; ok {
		t.Errorf("refresh token without offline.access: %v", tok)
	}
}

func TestConfidentialClient(t *testing.T) {
	e := newEnv(t, Config{X: XConfig{Clients: map[string]string{"conf": "s3cr:t/", "pub": ""}}})
	scope := "tweet.read users.read offline.access"

	// Unregistered clients cannot even reach the consent page.
	req, _ := http.NewRequest(http.MethodGet, e.base+"/i/oauth2/authorize?"+authParams("rogue", scope).Encode(), nil)
	if status, _, _ := e.do(req); status != http.StatusBadRequest {
		t.Errorf("unregistered client: status %d, want 400", status)
	}

	code := e.authorize(authParams("conf", scope), "")
	if status, resp := e.exchange(code, testVerifier, "conf", ""); status != http.StatusUnauthorized || resp["error"] != "unauthorized_client" {
		t.Errorf("confidential client without Basic: %d %v", status, resp)
	}
	code = e.authorize(authParams("conf", scope), "")
	if status, _ := e.exchange(code, testVerifier, "conf", "wrong"); status != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", status)
	}
	code = e.authorize(authParams("conf", scope), "")
	if status, resp := e.exchange(code, testVerifier, "conf", "s3cr:t/"); status != http.StatusOK {
		t.Errorf("right secret: %d %v", status, resp)
	}
	code = e.authorize(authParams("pub", scope), "")
	if status, resp := e.exchange(code, testVerifier, "pub", ""); status != http.StatusOK {
		t.Errorf("public client: %d %v", status, resp)
	}
}

func TestRefreshRotates(t *testing.T) {
	e := newEnv(t, Config{})
	access, refresh, _ := e.token(0)
	refreshForm := func(rt string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {IssuedClientID}}
	}
	status, _, body := e.postForm("/2/oauth2/token", refreshForm(refresh), "", "")
	tok := decode[map[string]any](t, body)
	if status != http.StatusOK || tok["access_token"] == access || tok["refresh_token"] == refresh || tok["refresh_token"] == nil {
		t.Fatalf("refresh: %d %v", status, tok)
	}
	if status, _, body := e.postForm("/2/oauth2/token", refreshForm(refresh), "", ""); status != http.StatusBadRequest {
		t.Errorf("old refresh token reused: %d %s", status, body)
	}
	// The old access token lives on until it expires; the new one works.
	if status, _, _ := e.get("/2/users/me", access); status != http.StatusOK {
		t.Errorf("old access token after refresh: %d", status)
	}
	if status, _, _ := e.get("/2/users/me", tok["access_token"].(string)); status != http.StatusOK {
		t.Errorf("new access token: %d", status)
	}
	// Any app may adopt an IssueToken token; then it is that app's only.
	adopt := refreshForm(tok["refresh_token"].(string))
	adopt.Set("client_id", "pulse-dev")
	status, _, body = e.postForm("/2/oauth2/token", adopt, "", "")
	if status != http.StatusOK {
		t.Fatalf("refresh of an issued token by another app: %d %s", status, body)
	}
	other := refreshForm(decode[map[string]any](t, body)["refresh_token"].(string))
	other.Set("client_id", "other")
	if status, _, _ := e.postForm("/2/oauth2/token", other, "", ""); status != http.StatusBadRequest {
		t.Errorf("refresh by another client: %d", status)
	}
	if status, _, _ := e.postForm("/2/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {"x"}}, "", ""); status != http.StatusBadRequest {
		t.Errorf("unsupported grant: %d", status)
	}
}

func TestAccessTokenExpiresAndRevokes(t *testing.T) {
	e := newEnv(t, Config{})
	access, refresh, _ := e.token(0)
	e.clock.Advance(AccessTTL - time.Second)
	if status, _, _ := e.get("/2/users/me", access); status != http.StatusOK {
		t.Fatalf("token before expiry: %d", status)
	}
	e.clock.Advance(time.Second)
	status, _, body := e.get("/2/users/me", access)
	if status != http.StatusUnauthorized {
		t.Fatalf("expired token: %d", status)
	}
	if want := `{"title":"Unauthorized","detail":"Unauthorized","type":"about:blank","status":401}`; string(body) != want {
		t.Errorf("401 body %s, want %s", body, want)
	}

	if !e.srv.Revoke(refresh) {
		t.Error("Revoke(refresh) = false")
	}
	if e.srv.Revoke(refresh) {
		t.Error("second Revoke = true")
	}

	// The revoke endpoint revokes the pair.
	access, refresh, _ = e.token(1)
	status, _, body = e.postForm("/2/oauth2/revoke", url.Values{"token": {refresh}, "client_id": {IssuedClientID}}, "", "")
	if status != http.StatusOK || string(body) != `{"revoked":true}` {
		t.Errorf("revoke: %d %s", status, body)
	}
	if status, _, _ := e.get("/2/users/me", access); status != http.StatusUnauthorized {
		t.Errorf("access token of a revoked pair: %d", status)
	}
}

func TestIssueTokenErrors(t *testing.T) {
	e := newEnv(t, Config{})
	if _, _, _, err := e.srv.IssueToken(topics.X, "1"); err == nil {
		t.Error("IssueToken of an unknown account succeeded")
	}
	if _, _, _, err := e.srv.IssueToken(unsimulated, "1000001"); err == nil {
		t.Error("IssueToken of an unsimulated platform succeeded")
	}
	_, _, exp, err := e.srv.IssueToken(topics.X, "1000001")
	if err != nil || !exp.Equal(start.Add(AccessTTL)) {
		t.Errorf("expiry %v, %v; want %v", exp, err, start.Add(AccessTTL))
	}
}
