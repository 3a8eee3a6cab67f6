package facebook

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/conformance"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

func TestDefaults(t *testing.T) {
	c, err := platforms.New(topics.Facebook, platforms.Config{ClientID: "app", ClientSecret: "s", RedirectURL: "https://pulse.example/cb"})
	if err != nil {
		t.Fatal(err)
	}
	conn := c.(*Connector)
	cfg := c.OAuth2()
	if cfg.Endpoint.AuthURL != "https://www.facebook.com/v24.0/dialog/oauth" || cfg.Endpoint.TokenURL != "https://graph.facebook.com/v24.0/oauth/access_token" ||
		cfg.Endpoint.AuthStyle != oauth2.AuthStyleInParams {
		t.Errorf("endpoints %+v", cfg.Endpoint)
	}
	if strings.Join(cfg.Scopes, ",") != Scope || cfg.ClientID != "app" || cfg.RedirectURL != "https://pulse.example/cb" {
		t.Errorf("config %+v", cfg)
	}
	if c.UsesPKCE() || c.Platform() != topics.Facebook || conn.g.MaxPages != DefaultMaxPostPages || conn.g.HTTP.Timeout != DefaultHTTPTimeout {
		t.Errorf("connector %+v", conn.g)
	}
	// The authorize URL carries the state and no PKCE challenge.
	u := cfg.AuthCodeURL("st4te")
	if !strings.Contains(u, "state=st4te") || strings.Contains(u, "code_challenge") || !strings.Contains(u, "scope=pages_show_list+pages_read_engagement+read_insights") {
		t.Errorf("authorize URL %s", u)
	}
	if _, err := New(platforms.Config{MaxPostPages: -1}); err == nil {
		t.Error("negative MaxPostPages accepted")
	}
}

// appHarness registers the conformance app with its secret, so the
// simulator checks client secrets and appsecret_proof.
func appHarness() conformance.Harness {
	h := harness
	h.Sim = func(c *sim.Config) {
		c.Facebook.Clients = map[string]string{conformance.ClientID: conformance.ClientSecret}
	}
	return h
}

func TestRegisteredAppAndProof(t *testing.T) {
	e := conformance.NewEnv(t, appHarness(), nil, nil)
	ctx := t.Context()
	code := e.Authorize(e.Conn.OAuth2(), "s", sim.Consent{}).Query().Get("code")
	tok, err := e.Conn.Exchange(ctx, code, "")
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if f, err := e.Fetch(ctx, tok, ""); err != nil || f.AccountID != e.Account(0).ID {
		t.Fatalf("Fetch with appsecret_proof: %v", err)
	}

	wrong := e.NewConn(func(c *platforms.Config) { c.ClientSecret = "not-the-app-secret" })
	_, err = wrong.Exchange(ctx, e.Authorize(e.Conn.OAuth2(), "s", sim.Consent{}).Query().Get("code"), "")
	if pe := e.ExpectError(err, platforms.Permanent); pe.Code != 101 {
		t.Errorf("wrong secret: %+v", pe)
	}
	_, err = wrong.Refresh(ctx, tok)
	e.ExpectError(err, platforms.Permanent)
	_, err = wrong.Fetch(ctx, tok, platforms.Request{})
	if pe := e.ExpectError(err, platforms.Permanent); pe.Code != 100 || pe.Op != opPages {
		t.Errorf("wrong proof: %+v", pe)
	}
}

func TestNoPageGranted(t *testing.T) {
	e := conformance.NewEnv(t, harness, nil, nil)
	cfg := e.Conn.OAuth2()
	cfg.Scopes = []string{"pages_read_engagement"} // no pages_show_list: /me/accounts is empty
	tok, err := e.Conn.Exchange(t.Context(), e.Authorize(cfg, "s", sim.Consent{}).Query().Get("code"), "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := e.Fetch(t.Context(), tok, "")
	if pe := e.ExpectError(err, platforms.Permission); pe.Op != opPages || f.Calls != 1 {
		t.Errorf("no Page: %+v after %d calls", pe, f.Calls)
	}
}

// graphStub is a Graph API with a user granting two Pages, the first
// without a Page token (no task allows reading it), and posts paged by
// time, not cursors.
func graphStub(t *testing.T, userToken, pageToken string) *Connector {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v24.0/me/accounts", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+userToken {
			http.Error(w, `{"error":{"message":"Invalid OAuth access token `+r.Header.Get("Authorization")+`","code":190}}`, http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `{"data":[{"id":"1","name":"Advertised"},{"id":"2","name":"Mine","access_token":%q,"tasks":["ANALYZE"]}]}`, pageToken)
	})
	mux.HandleFunc("GET /v24.0/2", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+pageToken || r.URL.Query().Get("fields") != PageFields {
			http.Error(w, `{"error":{"message":"wrong token or fields","code":100}}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("X-App-Usage", `{"call_count":3,"total_time":1,"total_cputime":1}`)
		fmt.Fprint(w, `{"id":"2","name":"Mine","fan_count":42}`)
	})
	mux.HandleFunc("GET /v24.0/2/posts", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Header.Get("Authorization") != "Bearer "+pageToken || !strings.HasPrefix(q.Get("fields"), PostFields+",insights.metric(") || q.Get("limit") != "25" {
			http.Error(w, `{"error":{"message":"wrong token or fields","code":100}}`, http.StatusBadRequest)
			return
		}
		switch q.Get("until") {
		case "":
			fmt.Fprintf(w, `{"data":[{"id":"2_9","created_time":"2026-11-25T09:00:00+0000","message":"new"}],`+
				`"paging":{"previous":"x","next":"https://graph.facebook.com/v24.0/2/posts?until=1764000000&access_token=%s&limit=25&fields=%s"}}`, pageToken, url.QueryEscape(q.Get("fields")))
		case "1764000000":
			fmt.Fprint(w, `{"data":[{"id":"2_8","created_time":"2026-11-24T15:00:00+0000","story":"Mine updated their cover photo."}],"paging":{"previous":"y"}}`)
		default:
			http.Error(w, `{"error":{"message":"bad until","code":100}}`, http.StatusBadRequest)
		}
	})
	mux.HandleFunc("GET /v24.0/2/insights", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[{"name":"page_follows","period":"day","values":[{"value":41,"end_time":"2026-11-25T00:00:00+0000"}]}]}`)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	c, err := New(platforms.Config{BaseURL: ts.URL, HTTPClient: ts.Client()})
	if err != nil {
		t.Fatal(err)
	}
	conn := c.(*Connector)
	conn.g.Backoff = time.Millisecond
	return conn
}

func TestFetchPicksPageAndFollowsTimePaging(t *testing.T) {
	c := graphStub(t, "user-token-value", "page-token-value")
	f, err := c.Fetch(t.Context(), &oauth2.Token{AccessToken: "user-token-value"}, platforms.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if f.AccountID != "2" || f.Calls != 5 || len(f.PostBodies) != 2 || len(f.InsightBodies) != 1 || f.Limit.UsagePct != 3 {
		t.Fatalf("fetch %+v", f)
	}
	if a, _ := c.ParseAccount(f.AccountBody); a != (platforms.Account{ID: "2", Followers: 42}) {
		t.Errorf("account %+v", a)
	}
	p, _ := c.ParsePosts(f.PostBodies[1])
	if len(p) != 1 || p[0].Text != "Mine updated their cover photo." || p[0].Permalink != "https://www.facebook.com/2_8" {
		t.Errorf("second page %+v", p)
	}
	if want := fmt.Sprint(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC).Unix()); f.NextCursor != want {
		t.Errorf("NextCursor %s, want %s", f.NextCursor, want)
	}

	_, err = c.Fetch(t.Context(), &oauth2.Token{AccessToken: "stale-user-token"}, platforms.Request{})
	var pe *platforms.Error
	if !errors.As(err, &pe) || pe.Class != platforms.Reauth || strings.Contains(err.Error(), "stale-user-token") {
		t.Errorf("echoed token: %v", err)
	}
}

const pageSample = `{"id":"104213112345678","name":"Pulse Coffee","username":"pulsecoffee","followers_count":15320,"fan_count":14877}`

const postsSample = `{"data":[` +
	`{"id":"104213112345678_122145678901234567","message":"Q&A at 5pm 🚀","created_time":"2026-11-25T10:00:00+0000",` +
	`"permalink_url":"https://www.facebook.com/pulsecoffee/posts/pfbid02abc","shares":{"count":3},` +
	`"reactions":{"data":[],"summary":{"total_count":40,"viewer_reaction":"NONE"}},` +
	`"comments":{"data":[],"summary":{"order":"ranked","total_count":2,"can_comment":true}}},` +
	`{"id":"104213112345678_122145678901234000","created_time":"2026-11-25T06:41:07+0000",` +
	`"reactions":{"data":[],"summary":{"total_count":0}},"comments":{"data":[],"summary":{"total_count":0}}}],` +
	`"paging":{"cursors":{"before":"QVFIUmFh","after":"QVFIUmJi"},"next":"https://graph.facebook.com/v24.0/104213112345678/posts?after=QVFIUmJi"}}`

func TestParseAccount(t *testing.T) {
	c := &Connector{}
	got, err := c.ParseAccount([]byte(pageSample))
	if err != nil || got != (platforms.Account{ID: "104213112345678", Handle: "pulsecoffee", Followers: 15320}) {
		t.Errorf("got %+v, %v", got, err)
	}
	if got, _ := c.ParseAccount([]byte(`{"id":"1","fan_count":7}`)); got != (platforms.Account{ID: "1", Followers: 7}) {
		t.Errorf("fan_count fallback: %+v", got)
	}
	for _, bad := range []string{``, `null`, `[]`, `{}`, `{"name":"x"}`, `{"id":1}`, `{"id":"1","followers_count":"many"}`, `{"error":{"code":190}}`} {
		if _, err := c.ParseAccount([]byte(bad)); err == nil {
			t.Errorf("ParseAccount(%q) succeeded", bad)
		}
	}
}

func TestParsePosts(t *testing.T) {
	c := &Connector{}
	got, err := c.ParsePosts([]byte(postsSample))
	if err != nil {
		t.Fatal(err)
	}
	want := []platforms.PostData{
		{
			ID: "104213112345678_122145678901234567", CreatedAt: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Text: "Q&A at 5pm 🚀",
			Permalink: "https://www.facebook.com/pulsecoffee/posts/pfbid02abc", Likes: 40, Comments: 2, Shares: 3,
		},
		{
			ID: "104213112345678_122145678901234000", CreatedAt: time.Date(2026, 11, 25, 6, 41, 7, 0, time.UTC),
			Permalink: "https://www.facebook.com/104213112345678_122145678901234000",
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, empty := range []string{`{"data":[]}`, `{}`, `{"data":[],"paging":{}}`} {
		if got, err := c.ParsePosts([]byte(empty)); err != nil || len(got) != 0 {
			t.Errorf("ParsePosts(%s) = %v, %v", empty, got, err)
		}
	}
	for _, bad := range []string{``, `null`, `[]`, `{"data":{}}`, `{"data":[{"message":"no id"}]}`, `{"data":[{"id":"1","created_time":"yesterday"}]}`, `{"data":[`} {
		if _, err := c.ParsePosts([]byte(bad)); err == nil {
			t.Errorf("ParsePosts(%q) succeeded", bad)
		}
	}
	// The decoder Fetch uses agrees.
	lp, err := decodePage([]byte(postsSample))
	if err != nil || len(lp.Times) != 2 || lp.Paging.Cursors.After != "QVFIUmJi" {
		t.Errorf("decodePage: %+v, %v", lp, err)
	}
}

// TestFetchReportsUsage: over HTTP against the simulator, a fetch reports
// X-App-Usage as the app's usage and X-Business-Use-Case-Usage as the
// Page's ("pages"), the shares the simulator counted.
func TestFetchReportsUsage(t *testing.T) {
	e := conformance.NewEnv(t, harness, func(c *sim.Config) {
		c.Facebook.App = sim.Limit{Requests: 40, Window: time.Hour}
		c.Facebook.Page = sim.Limit{Requests: 80, Window: 24 * time.Hour}
	}, func(c *platforms.Config) { c.MaxPostPages = 1 })
	tok := e.Token(0)
	usage := func(f *platforms.Fetch, scope, name string) platforms.Usage {
		t.Helper()
		for _, u := range f.Usage {
			if u.Scope == scope && u.Name == name {
				return u
			}
		}
		t.Fatalf("no %s usage %q in %+v", scope, name, f.Usage)
		return platforms.Usage{}
	}
	var calls, pageCalls int
	for range 2 {
		f, err := e.Fetch(t.Context(), tok, "")
		if err != nil {
			t.Fatal(err)
		}
		st := e.Sim.Stats().Platforms[topics.Facebook]
		calls = int(st.Requests)
		pageCalls = calls - int(st.Endpoints[sim.MetaEndpointAccounts].Requests) // /me/accounts is a user call
		if app := usage(f, topics.LimitScopeApp, "app"); app.UsedPct != (100*calls+39)/40 || app.Remaining != -1 {
			t.Errorf("app usage %+v after %d calls of 40", app, calls)
		}
		if page := usage(f, topics.LimitScopeAccount, "pages"); page.UsedPct != (100*pageCalls+79)/80 {
			t.Errorf("page usage %+v after %d Page calls of 80", page, pageCalls)
		}
	}
}
