package instagram

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/conformance"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

func TestDefaults(t *testing.T) {
	c, err := platforms.New(topics.Instagram, platforms.Config{ClientID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.OAuth2()
	if cfg.Endpoint.AuthURL != "https://www.facebook.com/v24.0/dialog/oauth" || cfg.Endpoint.TokenURL != "https://graph.facebook.com/v24.0/oauth/access_token" {
		t.Errorf("endpoints %+v", cfg.Endpoint)
	}
	if strings.Join(cfg.Scopes, ",") != Scope || c.UsesPKCE() || c.Platform() != topics.Instagram || c.(*Connector).igLogin {
		t.Errorf("config %+v", cfg)
	}

	c, err = New(platforms.Config{BaseURL: "https://graph.instagram.com/", ClientID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	cfg = c.OAuth2()
	if !c.(*Connector).igLogin || cfg.Endpoint.AuthURL != "https://www.instagram.com/oauth/authorize" || cfg.Endpoint.TokenURL != InstagramLoginTokenURL ||
		strings.Join(cfg.Scopes, ",") != InstagramLoginScope {
		t.Errorf("Instagram Login config %+v", cfg)
	}
	for _, bad := range []platforms.Config{{BaseURL: "graph.instagram.com"}, {MaxPostPages: -2}, {AuthBaseURL: "x"}} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) succeeded", bad)
		}
	}
}

func TestNoInstagramAccount(t *testing.T) {
	e := conformance.NewEnv(t, harness, nil, nil)
	cfg := e.Conn.OAuth2()
	cfg.Scopes = []string{"instagram_basic", "instagram_manage_insights"} // no pages_show_list
	tok, err := e.Conn.Exchange(t.Context(), e.Authorize(cfg, "s", sim.Consent{}).Query().Get("code"), "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := e.Fetch(t.Context(), tok, "")
	if pe := e.ExpectError(err, platforms.Permission); pe.Op != opPages || f.Calls != 1 {
		t.Errorf("no account: %+v after %d calls", pe, f.Calls)
	}
}

func TestTheInstagramAccountIsFound(t *testing.T) {
	// The first Page has no Instagram account; the second does.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v24.0/me/accounts":
			fmt.Fprint(w, `{"data":[{"id":"1"},{"id":"2","instagram_business_account":{"id":"17841400000000042"}}]}`)
		case "/v24.0/17841400000000042":
			fmt.Fprint(w, `{"id":"17841400000000042","username":"pulse","followers_count":10,"follows_count":2,"media_count":0}`)
		case "/v24.0/17841400000000042/media", "/v24.0/17841400000000042/insights":
			fmt.Fprint(w, `{"data":[]}`)
		default:
			http.Error(w, `{"error":{"message":"unexpected","code":100}}`, http.StatusBadRequest)
		}
	}))
	defer ts.Close()
	c, _ := New(platforms.Config{BaseURL: ts.URL, HTTPClient: ts.Client()})
	f, err := c.Fetch(t.Context(), &oauth2.Token{AccessToken: "t"}, platforms.Request{Cursor: "1764064800"})
	if err != nil || f.AccountID != "17841400000000042" || f.Calls != 4 || f.NextCursor != "1764064800" {
		t.Fatalf("fetch %+v, %v", f, err)
	}
}

// rewrite sends every request to target, keeping the original host in
// the log: it lets a test play graph.instagram.com and api.instagram.com.
type rewrite struct {
	target *url.URL
	base   http.RoundTripper
	mu     sync.Mutex
	log    []string
}

func (rw *rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	rw.mu.Lock()
	rw.log = append(rw.log, r.Method+" "+r.URL.Host+r.URL.Path)
	rw.mu.Unlock()
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = rw.target.Scheme, rw.target.Host
	return rw.base.RoundTrip(r)
}

func TestInstagramLogin(t *testing.T) {
	const (
		short   = "short-lived-ig-token"
		long    = "long-lived-ig-token"
		renewed = "renewed-ig-token"
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		f := r.PostForm
		if f.Get("client_id") != "app" || f.Get("client_secret") != "app-secret" || f.Get("grant_type") != "authorization_code" ||
			f.Get("redirect_uri") != "https://pulse.example/cb" || f.Get("code") != "the-code" {
			http.Error(w, `{"error_type":"OAuthException","code":400,"error_message":"Invalid authorization code"}`, http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `{"data":[{"access_token":%q,"user_id":17841400000000077,"permissions":"instagram_business_basic"}]}`, short)
	})
	mux.HandleFunc("GET /access_token", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("grant_type") != "ig_exchange_token" || q.Get("client_secret") != "app-secret" || q.Get("access_token") != short {
			http.Error(w, `{"error":{"message":"bad exchange","type":"OAuthException","code":190}}`, http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":5183944}`, long)
	})
	mux.HandleFunc("GET /refresh_access_token", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("grant_type") != "ig_refresh_token" || q.Get("access_token") != long {
			http.Error(w, `{"error":{"message":"Error validating access token `+q.Get("access_token")+`","type":"OAuthException","code":190}}`, http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","expires_in":5183944}`, renewed)
	})
	mux.HandleFunc("GET /v24.0/me", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("access_token") != renewed || r.Header.Get("Authorization") != "" || q.Get("appsecret_proof") == "" {
			http.Error(w, `{"error":{"message":"Invalid OAuth access token","type":"OAuthException","code":190}}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Business-Use-Case-Usage", `{"17841400000000077":[{"type":"instagram","call_count":12,"total_cputime":1,"total_time":2,"estimated_time_to_regain_access":0}]}`)
		fmt.Fprint(w, `{"user_id":"17841400000000077","id":"9000000000000001","username":"pulse","followers_count":321,"follows_count":12,"media_count":3}`)
	})
	mux.HandleFunc("GET /v24.0/me/media", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[{"id":"18000000000000001","caption":"hi","like_count":5,"comments_count":1,"timestamp":"2026-11-25T10:00:00+0000",`+
			`"permalink":"https://www.instagram.com/p/abc/","media_type":"IMAGE"}],"paging":{"cursors":{"before":"a","after":"b"}}}`)
	})
	mux.HandleFunc("GET /v24.0/me/insights", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"data":[{"name":"reach","period":"day","values":[{"value":7,"end_time":"2026-11-25T00:00:00+0000"}]}]}`)
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	target, _ := url.Parse(ts.URL)
	rw := &rewrite{target: target, base: ts.Client().Transport}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	c, err := New(platforms.Config{
		BaseURL: InstagramLoginBaseURL, ClientID: "app", ClientSecret: "app-secret", RedirectURL: "https://pulse.example/cb",
		HTTPClient: &http.Client{Transport: rw},
	})
	if err != nil {
		t.Fatal(err)
	}
	conn := c.(*Connector)
	conn.g.Now = func() time.Time { return now }

	tok, err := c.Exchange(t.Context(), "the-code", "")
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.AccessToken != long || !tok.Expiry.Equal(now.Add(5183944*time.Second)) || tok.Extra("user_id") != "17841400000000077" {
		t.Errorf("token %+v", tok)
	}
	_, err = c.Exchange(t.Context(), "wrong-code", "")
	if platforms.ClassOf(err) != platforms.Permanent || strings.Contains(err.Error(), "app-secret") {
		t.Errorf("wrong code: %v", err)
	}

	nt, err := c.Refresh(t.Context(), tok)
	if err != nil || nt.AccessToken != renewed {
		t.Fatalf("Refresh: %+v, %v", nt, err)
	}
	_, err = c.Refresh(t.Context(), &oauth2.Token{AccessToken: "revoked-ig-token", Expiry: now.Add(time.Hour)})
	if platforms.ClassOf(err) != platforms.Reauth || strings.Contains(err.Error(), "revoked-ig-token") {
		t.Errorf("revoked: %v", err)
	}
	_, err = c.Refresh(t.Context(), &oauth2.Token{AccessToken: long, Expiry: now})
	if platforms.ClassOf(err) != platforms.Reauth {
		t.Errorf("expired: %v", err)
	}

	f, err := c.Fetch(t.Context(), nt, platforms.Request{})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if f.AccountID != "17841400000000077" || f.Calls != 3 || len(f.PostBodies) != 1 || len(f.InsightBodies) != 1 || f.Limit.UsagePct != 12 {
		t.Errorf("fetch %+v", f)
	}
	if a, _ := c.ParseAccount(f.AccountBody); a != (platforms.Account{ID: "17841400000000077", Handle: "pulse", Followers: 321, Following: 12, PostsCount: 3}) {
		t.Errorf("account %+v", a)
	}
	_, err = c.Fetch(t.Context(), tok, platforms.Request{})
	if platforms.ClassOf(err) != platforms.Reauth || strings.Contains(err.Error(), long) {
		t.Errorf("stale token: %v", err)
	}

	want := []string{
		"POST api.instagram.com/oauth/access_token", "GET graph.instagram.com/access_token",
		"POST api.instagram.com/oauth/access_token",
		"GET graph.instagram.com/refresh_access_token", "GET graph.instagram.com/refresh_access_token",
		"GET graph.instagram.com/v24.0/me", "GET graph.instagram.com/v24.0/me/media", "GET graph.instagram.com/v24.0/me/insights",
		"GET graph.instagram.com/v24.0/me",
	}
	if !reflect.DeepEqual(rw.log, want) {
		t.Errorf("requests\n%v\nwant\n%v", rw.log, want)
	}
}

const userSample = `{"id":"17841405822304914","username":"pulsecoffee","followers_count":15320,"follows_count":210,"media_count":512}`

const mediaSample = `{"data":[` +
	`{"id":"17895695668004550","caption":"Q&A at 5pm 🚀 #coffee","like_count":40,"comments_count":2,"timestamp":"2026-11-25T10:00:00+0000",` +
	`"permalink":"https://www.instagram.com/p/C0abcDEF123/","media_type":"CAROUSEL_ALBUM"},` +
	`{"id":"17841234567890123","comments_count":0,"timestamp":"2026-11-25T06:41:07+0000","permalink":"https://www.instagram.com/reel/C0xyz/","media_type":"VIDEO"}],` +
	`"paging":{"cursors":{"before":"QVFIU","after":"QVFIV"},"next":"https://graph.facebook.com/v24.0/17841405822304914/media?after=QVFIV"}}`

func TestParse(t *testing.T) {
	c := &Connector{}
	got, err := c.ParseAccount([]byte(userSample))
	if err != nil || got != (platforms.Account{ID: "17841405822304914", Handle: "pulsecoffee", Followers: 15320, Following: 210, PostsCount: 512}) {
		t.Errorf("account %+v, %v", got, err)
	}
	for _, bad := range []string{``, `null`, `{}`, `{"username":"x"}`, `{"id":"1","followers_count":"x"}`, `{"user_id":true}`} {
		if _, err := c.ParseAccount([]byte(bad)); err == nil {
			t.Errorf("ParseAccount(%q) succeeded", bad)
		}
	}
	posts, err := c.ParsePosts([]byte(mediaSample))
	want := []platforms.PostData{
		{
			ID: "17895695668004550", CreatedAt: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Text: "Q&A at 5pm 🚀 #coffee",
			Permalink: "https://www.instagram.com/p/C0abcDEF123/", Likes: 40, Comments: 2,
		},
		{ID: "17841234567890123", CreatedAt: time.Date(2026, 11, 25, 6, 41, 7, 0, time.UTC), Permalink: "https://www.instagram.com/reel/C0xyz/"},
	}
	if err != nil || !reflect.DeepEqual(posts, want) {
		t.Errorf("posts %+v, %v", posts, err)
	}
	for _, bad := range []string{``, `[]`, `{"data":[{"caption":"no id"}]}`, `{"data":[{"id":"1","timestamp":"soon"}]}`, `{"data":{}}`} {
		if _, err := c.ParsePosts([]byte(bad)); err == nil {
			t.Errorf("ParsePosts(%q) succeeded", bad)
		}
	}
}
