package api_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/topics"
)

func TestLinkFlowForUsersWithNoneOneAndTwoAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	userID, _ := b.signUp("ada@example.com")

	// No links: every platform listed, X linkable; downstream queries are
	// simply empty.
	var res linksResult
	b.mustGraphQL(linksQuery, nil, &res)
	if len(res.Links) != 4 {
		t.Fatalf("links = %+v, want the four platforms", res.Links)
	}
	for _, p := range res.Links {
		if p.Status != "NOT_LINKED" || len(p.Accounts) != 0 || p.Linkable != (p.Platform == "X") {
			t.Fatalf("platform without links = %+v", p)
		}
	}
	var data struct {
		Metrics []any
		Feed    []any
	}
	b.mustGraphQL(`{ metrics(grain: DAY, from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z") { accountId }
		feed { id } }`, nil, &data)
	if data.Metrics == nil || data.Feed == nil || len(data.Metrics)+len(data.Feed) != 0 {
		t.Fatalf("metrics and feed without links = %+v", data)
	}

	// Start: a redirect to X's authorize page with a state, an S256 PKCE
	// challenge and our callback.
	authURL := b.startLink("x")
	q := authURL.Query()
	if !strings.HasPrefix(authURL.String(), e.simURL+"/x/i/oauth2/authorize?") || len(q.Get("state")) != 43 ||
		q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
		q.Get("redirect_uri") != e.srv.URL+"/oauth/x/callback" || q.Get("client_id") != "pulse-test" {
		t.Fatalf("authorize URL = %s", authURL)
	}
	cb := b.authorize(authURL, 0, "allow")
	r := b.get(cb)
	if r.StatusCode != http.StatusFound || r.location() != "/#/accounts?linked=x" || r.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("callback = %d %q %v", r.StatusCode, r.location(), r.Header)
	}
	acct := e.sim.Accounts(topics.X)[0]
	res = linksResult{}
	b.mustGraphQL(linksQuery, nil, &res)
	var x = res.Links[2]
	if x.Platform != "X" || x.Status != "ACTIVE" || len(x.Accounts) != 1 || x.Accounts[0].AccountID != acct.ID ||
		x.Accounts[0].Handle != acct.Handle || x.Accounts[0].Status != "ACTIVE" {
		t.Fatalf("after linking: %+v", res.Links)
	}

	// The stored token is the platform's and works; the link is due at once.
	tok, link, err := e.pg.LinkToken(t.Context(), x.Accounts[0].ID)
	if err != nil || link.UserID != userID || link.Scopes == "" || tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("stored link = %+v, %v", link, err)
	}
	if _, err := e.conns[topics.X].Fetch(t.Context(), tok, platforms.Request{}); err != nil {
		t.Fatalf("fetch with the stored token: %v", err)
	}
	if link.NextFetchAt.After(time.Now()) {
		t.Fatalf("new link not due: %v", link.NextFetchAt)
	}

	// A second account, started through the startLink mutation as the SPA
	// does.
	var started struct{ StartLink string }
	b.mustGraphQL(`mutation { startLink(platform: X) }`, nil, &started)
	u, err := url.Parse(started.StartLink)
	if err != nil || u.Query().Get("state") == "" {
		t.Fatalf("startLink = %q", started.StartLink)
	}
	if r := b.get(b.authorize(u, 1, "allow")); r.location() != "/#/accounts?linked=x" {
		t.Fatalf("second callback: %d %q %s", r.StatusCode, r.location(), r.body)
	}
	if got := b.links(); got["X"] != "ACTIVE/2" || got["FACEBOOK"] != "NOT_LINKED/0" {
		t.Fatalf("links = %v, want two X accounts", got)
	}
	e.assertNoSecrets(t, tok.AccessToken, tok.RefreshToken, q.Get("state"), testPassword)
}

func TestRelinkReactivatesTheLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.signUp("ada@example.com")
	b.link(0)
	links, _ := e.pg.Links(t.Context(), mustUserID(t, e, "ada@example.com"))
	old, _, _ := e.pg.LinkToken(t.Context(), links[0].ID)
	if err := e.pg.MarkLinkStatus(t.Context(), links[0].ID, pulse.LinkNeedsReauth, "token refresh rejected"); err != nil {
		t.Fatal(err)
	}
	var res linksResult
	b.mustGraphQL(linksQuery, nil, &res)
	if a := res.Links[2].Accounts[0]; res.Links[2].Status != "NEEDS_REAUTH" || a.StatusReason == nil || *a.StatusReason != "token refresh rejected" {
		t.Fatalf("links = %+v", res.Links[2])
	}

	b.link(0)
	again, _ := e.pg.Links(t.Context(), links[0].UserID)
	tok, _, _ := e.pg.LinkToken(t.Context(), links[0].ID)
	if len(again) != 1 || again[0].ID != links[0].ID || again[0].Status != pulse.LinkActive || tok.AccessToken == old.AccessToken {
		t.Fatalf("after relink: %+v", again)
	}
}

func mustUserID(t *testing.T, e *env, email string) string {
	t.Helper()
	u, err := e.pg.Authenticate(t.Context(), email, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// wantPage checks an error page answer.
func wantPage(t *testing.T, r response, status int, text string) {
	t.Helper()
	if r.StatusCode != status || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") ||
		!bytes.Contains(r.body, []byte(text)) || r.location() != "" {
		t.Fatalf("want %d page with %q, got %d %q %s", status, text, r.StatusCode, r.location(), r.body)
	}
}

// withParam returns u with query parameter k set to v.
func withParam(t *testing.T, u, k, v string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	q.Set(k, v)
	p.RawQuery = q.Encode()
	return p.String()
}

func TestCallbackRejectsTamperedState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.signUp("ada@example.com")
	cb := b.authorize(b.startLink("x"), 0, "allow")
	state := must(url.Parse(cb)).Query().Get("state")

	flipped := []byte(state)
	flipped[10] ^= 'A' ^ 'B'
	if flipped[10] == state[10] {
		flipped[10] = 'C'
	}
	for _, bad := range []string{string(flipped), state[:42], state + "A", "", "not-a-state"} {
		wantPage(t, b.get(withParam(t, cb, "state", bad)), http.StatusBadRequest, "unknown or was already used")
	}
	if got := b.links(); got["X"] != "NOT_LINKED/0" {
		t.Fatalf("tampered callbacks linked something: %v", got)
	}
	// The genuine callback still works.
	if r := b.get(cb); r.location() != "/#/accounts?linked=x" {
		t.Fatalf("genuine callback: %d %q", r.StatusCode, r.location())
	}
}

func TestCallbackRejectsReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.signUp("ada@example.com")
	cb := b.authorize(b.startLink("x"), 0, "allow")
	if r := b.get(cb); r.location() != "/#/accounts?linked=x" {
		t.Fatalf("callback: %d %q", r.StatusCode, r.location())
	}
	userID := mustUserID(t, e, "ada@example.com")
	before, _ := e.pg.Links(t.Context(), userID)

	// The same code and state again: refused before the code is used.
	wantPage(t, b.get(cb), http.StatusBadRequest, "unknown or was already used")
	// The old code under a fresh state: the platform refuses the spent code.
	fresh := b.authorize(b.startLink("x"), 0, "deny") // only to get a valid state
	replay := withParam(t, cb, "state", must(url.Parse(fresh)).Query().Get("state"))
	if r := b.get(replay); r.StatusCode != http.StatusFound || r.location() != "/#/accounts?link_error=exchange_failed&platform=x" {
		t.Fatalf("old code, new state: %d %q %s", r.StatusCode, r.location(), r.body)
	}
	after, _ := e.pg.Links(t.Context(), userID)
	if len(after) != 1 || after[0].UpdatedAt != before[0].UpdatedAt {
		t.Fatalf("replays changed the links: %+v", after)
	}
}

func TestCallbackRejectsExpiredState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.signUp("ada@example.com")
	cb := b.authorize(b.startLink("x"), 0, "allow")

	e.skew.Store(int64(10*time.Minute + time.Second))
	wantPage(t, b.get(cb), http.StatusBadRequest, "expired")
	// Spent even so.
	e.skew.Store(0)
	wantPage(t, b.get(cb), http.StatusBadRequest, "unknown or was already used")
	if got := b.links(); got["X"] != "NOT_LINKED/0" {
		t.Fatalf("expired callback linked: %v", got)
	}

	// Within the 10 minutes it works.
	cb = b.authorize(b.startLink("x"), 0, "allow")
	e.skew.Store(int64(9 * time.Minute))
	if r := b.get(cb); r.location() != "/#/accounts?linked=x" {
		t.Fatalf("callback after 9 minutes: %d %q %s", r.StatusCode, r.location(), r.body)
	}
}

func TestCallbackRejectsAnotherSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ada := e.browser(t)
	ada.signUp("ada@example.com")
	mallory := e.browser(t)
	mallory.signUp("mallory@example.com")

	// Mallory approves her own X account and gets Ada's browser to the
	// callback (login CSRF on linking): refused, nothing linked anywhere.
	mcb := mallory.authorize(mallory.startLink("x"), 3, "allow")
	wantPage(t, ada.get(mcb), http.StatusForbidden, "another browser session")
	if got := ada.links(); got["X"] != "NOT_LINKED/0" {
		t.Fatalf("Ada's links = %v, want none", got)
	}

	// The same user in another session (another browser) is refused too:
	// the state is bound to the session, not just the user. Nor does a
	// request without a session redeem it.
	cb := ada.authorize(ada.startLink("x"), 0, "allow")
	other := e.browser(t)
	if r := other.login("ada@example.com", testPassword); r.StatusCode != http.StatusOK {
		t.Fatal(r.StatusCode)
	}
	wantPage(t, other.get(cb), http.StatusForbidden, "another browser session")
	wantPage(t, e.browser(t).get(cb), http.StatusForbidden, "another browser session")

	// The refusals burned nothing: each owner completes their own link.
	if r := ada.get(cb); r.location() != "/#/accounts?linked=x" {
		t.Fatalf("Ada's own callback after the refusals: %d %q %s", r.StatusCode, r.location(), r.body)
	}
	if got := ada.links(); got["X"] != "ACTIVE/1" {
		t.Fatalf("Ada's links = %v", got)
	}
	if r := mallory.get(mcb); r.location() != "/#/accounts?linked=x" {
		t.Fatalf("Mallory's own callback after Ada's refusal: %d %q %s", r.StatusCode, r.location(), r.body)
	}
	if !strings.Contains(e.logs.String(), "callback from another session") {
		t.Fatalf("rejection not logged:\n%s", e.logs)
	}
}

// renamed serves a connector under another platform's name.
type renamed struct {
	platforms.Connector
	p topics.Platform
}

func (r renamed) Platform() topics.Platform { return r.p }

func TestCallbackRejectsStateOfAnotherPlatform(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *api.Config) {
		c.Connectors[topics.LinkedIn] = renamed{c.Connectors[topics.X], topics.LinkedIn}
	})
	b := e.browser(t)
	b.signUp("ada@example.com")
	cb := b.authorize(b.startLink("linkedin"), 0, "allow") // lands on /oauth/x/callback
	wantPage(t, b.get(cb), http.StatusBadRequest, "another platform")
}

func TestCallbackReportsPlatformErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.signUp("ada@example.com")

	cb := b.authorize(b.startLink("x"), 0, "deny")
	if r := b.get(cb); r.StatusCode != http.StatusFound || r.location() != "/#/accounts?link_error=access_denied&platform=x" {
		t.Fatalf("denied: %d %q", r.StatusCode, r.location())
	}
	cb = b.authorize(b.startLink("x"), 0, "deny")
	if r := b.get(withParam(t, cb, "error", "user_cancelled_authorize")); r.location() != "/#/accounts?link_error=access_denied&platform=x" {
		t.Fatalf("LinkedIn-style cancel: %d %q", r.StatusCode, r.location())
	}
	cb = b.authorize(b.startLink("x"), 0, "deny")
	if r := b.get(withParam(t, cb, "error", "<script>")); r.location() != "/#/accounts?link_error=authorization_failed&platform=x" {
		t.Fatalf("other error: %d %q", r.StatusCode, r.location())
	}
	cb = b.authorize(b.startLink("x"), 0, "allow")
	if r := b.get(withParam(t, cb, "code", "forged-code-0123456789")); r.location() != "/#/accounts?link_error=exchange_failed&platform=x" {
		t.Fatalf("forged code: %d %q", r.StatusCode, r.location())
	}
	if got := b.links(); got["X"] != "NOT_LINKED/0" {
		t.Fatalf("links = %v", got)
	}
	if strings.Contains(e.logs.String(), "<script>") || strings.Contains(e.logs.String(), "forged-code-0123456789") {
		t.Fatalf("logs echo request input:\n%s", e.logs)
	}
}

func TestStartLinkErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	_, bearer := b.signUp("ada@example.com")

	wantPage(t, b.get("/oauth/linkedin/start"), http.StatusNotFound, "cannot link")
	wantPage(t, b.get("/oauth/nope/callback?state=x&code=y"), http.StatusNotFound, "cannot link")
	b.wantGraphQLError(`mutation { startLink(platform: LINKEDIN) }`, nil, "BAD_USER_INPUT")

	anon := e.browser(t)
	wantPage(t, anon.get("/oauth/x/start"), http.StatusUnauthorized, "Sign in")
	anon.wantGraphQLError(`mutation { startLink(platform: X) }`, nil, "UNAUTHENTICATED")

	// A bearer session cannot receive the browser's callback.
	client := e.browser(t)
	client.bearer, client.origin = bearer, ""
	client.wantGraphQLError(`mutation { startLink(platform: X) }`, nil, "BAD_USER_INPUT")
}

func TestUnlink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ada := e.browser(t)
	ada.signUp("ada@example.com")
	ada.link(0)
	ada.link(1)
	bob := e.browser(t)
	bob.signUp("bob@example.com")
	bob.link(0)

	var res linksResult
	ada.mustGraphQL(linksQuery, nil, &res)
	adaLink := res.Links[2].Accounts[0].ID
	res = linksResult{}
	bob.mustGraphQL(linksQuery, nil, &res)
	bobLink := res.Links[2].Accounts[0].ID

	const unlink = `mutation($id: ID!) { unlink(linkId: $id) }`
	ada.wantGraphQLError(unlink, map[string]any{"id": bobLink}, "NOT_FOUND")
	ada.wantGraphQLError(unlink, map[string]any{"id": "not-an-id"}, "NOT_FOUND")
	var out struct{ Unlink bool }
	ada.mustGraphQL(unlink, map[string]any{"id": adaLink}, &out)
	if !out.Unlink {
		t.Fatal("unlink = false")
	}
	ada.wantGraphQLError(unlink, map[string]any{"id": adaLink}, "NOT_FOUND")
	if got := ada.links(); got["X"] != "ACTIVE/1" {
		t.Fatalf("ada's links = %v, want one left", got)
	}
	if got := bob.links(); got["X"] != "ACTIVE/1" {
		t.Fatalf("bob's links = %v", got)
	}
	if _, _, err := e.pg.LinkToken(t.Context(), adaLink); pulse.ErrorCode(err) != pulse.ENOTFOUND {
		t.Fatalf("unlinked token still stored: %v", err)
	}
	// Unlinking the last account leaves a normal user without links.
	ada.mustGraphQL(linksQuery, nil, &res)
	ada.mustGraphQL(unlink, map[string]any{"id": res.Links[2].Accounts[0].ID}, &out)
	if got := ada.links(); got["X"] != "NOT_LINKED/0" {
		t.Fatalf("ada's links = %v, want none", got)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
