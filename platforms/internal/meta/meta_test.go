package meta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func TestNewDefaultsAndValidation(t *testing.T) {
	c, err := New(topics.Facebook, platforms.Config{}, []string{"a"}, DefaultBaseURL, DefaultAuthBaseURL)
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL != DefaultBaseURL || c.AuthBaseURL != DefaultAuthBaseURL || c.MaxPages != DefaultMaxPostPages ||
		c.HTTP == nil || c.HTTP.Timeout != DefaultHTTPTimeout || c.Backoff != DefaultBackoff || c.Host() != "graph.facebook.com" {
		t.Errorf("defaults: %+v", c)
	}
	cfg := c.OAuth2()
	if cfg.Endpoint.AuthURL != "https://www.facebook.com/v24.0/dialog/oauth" || cfg.Endpoint.TokenURL != "https://graph.facebook.com/v24.0/oauth/access_token" ||
		cfg.Endpoint.AuthStyle != oauth2.AuthStyleInParams {
		t.Errorf("endpoints %+v", cfg.Endpoint)
	}
	cfg.Scopes[0] = "mutated"
	if c.OAuth2().Scopes[0] != "a" {
		t.Error("OAuth2 returned shared state")
	}
	for _, bad := range []platforms.Config{
		{MaxPostPages: -1}, {BaseURL: "graph.facebook.com"}, {BaseURL: "https://graph.facebook.com?x=1"},
		{AuthBaseURL: "ftp://x"}, {RedirectURL: "/cb"},
	} {
		if _, err := New(topics.Facebook, bad, nil, DefaultBaseURL, DefaultAuthBaseURL); err == nil {
			t.Errorf("New(%+v) succeeded", bad)
		}
	}
}

func TestParseUsage(t *testing.T) {
	for _, c := range []struct {
		name   string
		header map[string]string
		ok     bool
		pct    int
		reset  time.Duration
	}{
		{"none", nil, false, -1, 0},
		{"app", map[string]string{"X-App-Usage": `{"call_count":28,"total_time":25,"total_cputime":30}`}, true, 30, 0},
		{"page (legacy)", map[string]string{"X-Page-Usage": `{"call_count":85,"total_cputime":56,"total_time":60}`}, true, 85, 0},
		{"buc", map[string]string{
			"X-App-Usage":               `{"call_count":10,"total_time":0,"total_cputime":0}`,
			"X-Business-Use-Case-Usage": `{"123":[{"type":"pages","call_count":100,"total_cputime":25,"total_time":25,"estimated_time_to_regain_access":19}],"456":[{"type":"instagram","call_count":5,"estimated_time_to_regain_access":3}]}`,
		}, true, 100, 19 * time.Minute},
		{"fractional and over 100", map[string]string{"X-App-Usage": `{"call_count":120.5}`}, true, 100, 0},
		{"malformed", map[string]string{"X-App-Usage": `{"call_count":`, "X-Business-Use-Case-Usage": `[]`}, false, -1, 0},
		{"absurd estimate", map[string]string{"X-Business-Use-Case-Usage": `{"1":[{"call_count":1,"estimated_time_to_regain_access":1e9}]}`}, true, 1, 0},
	} {
		h := http.Header{}
		for k, v := range c.header {
			h.Set(k, v)
		}
		rl, ok := ParseUsage(h, now)
		wantReset := time.Time{}
		if c.reset > 0 {
			wantReset = now.Add(c.reset)
		}
		if ok != c.ok || rl.UsagePct != c.pct || !rl.Reset.Equal(wantReset) || rl.Remaining != -1 || rl.Limit != -1 {
			t.Errorf("%s: %+v, %v", c.name, rl, ok)
		}
	}
}

func TestClassify(t *testing.T) {
	ge := func(code int, transient bool) *GraphError {
		return &GraphError{Code: code, IsTransient: transient, Message: "m"}
	}
	for _, c := range []struct {
		status int
		ge     *GraphError
		want   platforms.Class
	}{
		{400, ge(190, false), platforms.Reauth},
		{401, ge(102, false), platforms.Reauth},
		{400, ge(10, false), platforms.Permission},
		{403, ge(200, false), platforms.Permission},
		{400, ge(299, false), platforms.Permission},
		{400, ge(4, true), platforms.Throttled},
		{400, ge(17, true), platforms.Throttled},
		{400, ge(32, false), platforms.Throttled},
		{400, ge(613, false), platforms.Throttled},
		{400, ge(80001, false), platforms.Throttled},
		{400, ge(80002, false), platforms.Throttled},
		{500, ge(1, false), platforms.Transient},
		{503, ge(2, true), platforms.Transient},
		{400, ge(100, true), platforms.Transient},
		{400, ge(100, false), platforms.Permanent},
		{400, ge(368, false), platforms.Permanent},
		{429, nil, platforms.Throttled},
		{401, nil, platforms.Reauth},
		{403, nil, platforms.Permission},
		{502, nil, platforms.Transient},
		{404, nil, platforms.Permanent},
	} {
		if got := Classify(c.status, c.ge); got != c.want {
			t.Errorf("Classify(%d, %+v) = %v, want %v", c.status, c.ge, got, c.want)
		}
	}
	if ParseError([]byte(`{"error":{}}`)) != nil || ParseError([]byte(`nope`)) != nil || ParseError([]byte(`{"data":[]}`)) != nil {
		t.Error("ParseError found an error in a body without one")
	}
	if e := ParseError([]byte(`{"error":{"message":"x","code":"190"}}`)); e != nil {
		t.Errorf("string code parsed: %+v", e)
	}
}

func TestNextQuery(t *testing.T) {
	q := url.Values{"fields": {"id"}, "limit": {"25"}, "before": {"b"}}
	var p Paging
	if _, ok := NextQuery(q, p); ok {
		t.Error("no next, yet a next query")
	}
	p.Next = "https://graph.facebook.com/v24.0/1/posts?after=A&access_token=SECRET"
	p.Cursors.After = "A"
	next, ok := NextQuery(q, p)
	if !ok || next.Get("after") != "A" || next.Get("before") != "" || next.Get("fields") != "id" || q.Get("after") != "" {
		t.Errorf("cursor paging: %v, %v (q %v)", next, ok, q)
	}
	p.Cursors.After = ""
	p.Next = "https://graph.facebook.com/v24.0/1/posts?until=1700000000&__paging_token=tok&access_token=SECRET&appsecret_proof=P"
	next, ok = NextQuery(q, p)
	if !ok || next.Get("until") != "1700000000" || next.Get("__paging_token") != "tok" || next.Has("access_token") || next.Has("appsecret_proof") {
		t.Errorf("time paging: %v, %v", next, ok)
	}
	p.Next = "https://graph.facebook.com/v24.0/1/posts?access_token=SECRET"
	if _, ok := NextQuery(q, p); ok {
		t.Error("a next URL without parameters gave a next query")
	}
}

func TestCursorsTimesAndIDs(t *testing.T) {
	for _, bad := range []string{"x", "-1", "0", "01700000000", "1e9", "99999999999999", " 1"} {
		if _, err := ParseCursor(bad); err == nil {
			t.Errorf("ParseCursor(%q) succeeded", bad)
		}
	}
	if c, err := ParseCursor("1764064800"); err != nil || !c.Equal(time.Unix(1764064800, 0)) || FormatCursor(c) != "1764064800" {
		t.Errorf("round trip: %v %v", c, err)
	}
	if NextCursor("", time.Time{}) != "" || NextCursor("100", time.Unix(50, 0)) != "100" || NextCursor("100", time.Unix(101, 0)) != "101" {
		t.Error("NextCursor")
	}
	for in, want := range map[string]time.Time{
		"2026-11-25T10:00:00+0000": now,
		"2026-11-25T12:00:00+0200": now,
		"2026-11-25T10:00:00Z":     now,
	} {
		if got, err := ParseTime(in); err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseTime("yesterday"); err == nil {
		t.Error("ParseTime(yesterday) succeeded")
	}
	var v struct{ A, B, C ID }
	if err := httpx.DecodeObject([]byte(`{"A":"17841","B":17841400000000001,"C":null}`), &v); err != nil || v.A != "17841" || v.B != "17841400000000001" || v.C != "" {
		t.Errorf("ID: %+v %v", v, err)
	}
	if err := httpx.DecodeObject([]byte(`{"A":true}`), &v); err == nil {
		t.Error("boolean id accepted")
	}
	if httpx.DecodeObject([]byte(` [1]`), &v) == nil || httpx.DecodeObject(nil, &v) == nil {
		t.Error("DecodeObject accepted a non-object")
	}
}

// stub serves every request with status, headers and body ($TOKEN: the
// request's bearer token or access_token parameter), counting them.
func stub(t *testing.T, status int, header map[string]string, body string) (*Client, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		r.ParseForm()
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if tok == "" {
			tok = r.Form.Get("fb_exchange_token") + r.Form.Get("access_token")
		}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		fmt.Fprint(w, strings.ReplaceAll(body, "$TOKEN", tok))
	}))
	t.Cleanup(ts.Close)
	c, err := New(topics.Instagram, platforms.Config{BaseURL: ts.URL, ClientID: "app", ClientSecret: "app-secret-value", HTTPClient: ts.Client()},
		nil, DefaultBaseURL, DefaultAuthBaseURL)
	if err != nil {
		t.Fatal(err)
	}
	c.Backoff = time.Millisecond
	c.Now = func() time.Time { return now }
	return c, &n
}

func TestGetClassifiesAndRedacts(t *testing.T) {
	const secret = "user-token-that-must-not-leak"
	buc := map[string]string{"X-Business-Use-Case-Usage": `{"1":[{"type":"instagram","call_count":100,"estimated_time_to_regain_access":7}]}`}
	for _, c := range []struct {
		status int
		header map[string]string
		body   string
		class  platforms.Class
		calls  int32
		code   int
		retry  time.Time
	}{
		{400, buc, `{"error":{"message":"(#80002) There have been too many calls to this Instagram account.","type":"OAuthException","code":80002,"fbtrace_id":"A1"}}`, platforms.Throttled, 1, 80002, now.Add(7 * time.Minute)},
		{400, nil, `{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,"code":4}}`, platforms.Throttled, 1, 4, now.Add(time.Hour)},
		{400, map[string]string{"Retry-After": "120"}, `{"error":{"message":"(#17) User request limit reached","code":17}}`, platforms.Throttled, 1, 17, now.Add(2 * time.Minute)},
		{400, nil, `{"error":{"message":"Error validating access token: $TOKEN","type":"OAuthException","code":190,"error_subcode":463}}`, platforms.Reauth, 1, 190, time.Time{}},
		{400, nil, `{"error":{"message":"(#10) Application does not have permission for this action","code":10}}`, platforms.Permission, 1, 10, time.Time{}},
		{400, nil, `{"error":{"message":"(#100) Invalid parameter","code":100}}`, platforms.Permanent, 1, 100, time.Time{}},
		{500, nil, `{"error":{"message":"An unknown error occurred $TOKEN","code":1}}`, platforms.Transient, 3, 1, time.Time{}},
		{502, nil, `<html>bad gateway</html>`, platforms.Transient, 3, 0, time.Time{}},
		{404, nil, `not found`, platforms.Permanent, 1, 0, time.Time{}},
		{200, nil, `{"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","code":613}}`, platforms.Throttled, 1, 613, now.Add(time.Hour)},
		{200, nil, `{"id":"1","name":"$TOKEN"`, platforms.Transient, 3, 0, time.Time{}},
	} {
		t.Run(fmt.Sprintf("%d %.30s", c.status, c.body), func(t *testing.T) {
			cl, n := stub(t, c.status, c.header, c.body)
			f := &platforms.Fetch{Limit: platforms.Unknown()}
			_, err := cl.NewSession(f).Get(t.Context(), "fetch account", "/1", url.Values{"fields": {"id"}}, secret, func(b []byte) *platforms.Error {
				var v map[string]any
				if err := httpx.DecodeObject(b, &v); err != nil {
					return cl.Malformed("fetch account", err)
				}
				return nil
			})
			var pe *platforms.Error
			if !errors.As(err, &pe) || pe.Class != c.class || pe.Code != c.code || pe.Platform != topics.Instagram {
				t.Fatalf("error %v (%+v), want class %v code %d", err, pe, c.class, c.code)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "app-secret-value") {
				t.Errorf("error leaks a secret: %v", err)
			}
			if n.Load() != c.calls || int32(f.Calls) != c.calls {
				t.Errorf("%d requests, %d counted, want %d", n.Load(), f.Calls, c.calls)
			}
			if !pe.RetryAfter.Equal(c.retry) {
				t.Errorf("RetryAfter %v, want %v", pe.RetryAfter, c.retry)
			}
		})
	}
}

func TestGetSendsCredentials(t *testing.T) {
	var got *http.Request
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Header().Set("X-App-Usage", `{"call_count":7,"total_time":1,"total_cputime":1}`)
		fmt.Fprint(w, `{"id":"1"}`)
	}))
	defer ts.Close()
	c, _ := New(topics.Facebook, platforms.Config{BaseURL: ts.URL, ClientSecret: "s3cret", HTTPClient: ts.Client()}, nil, DefaultBaseURL, DefaultAuthBaseURL)
	f := &platforms.Fetch{Limit: platforms.Unknown()}
	s := c.NewSession(f)
	if _, err := s.Get(t.Context(), "op", "/1", url.Values{"fields": {"id"}}, "tok-123", nil); err != nil {
		t.Fatal(err)
	}
	q := got.URL.Query()
	if got.URL.Path != "/v24.0/1" || got.Header.Get("Authorization") != "Bearer tok-123" || q.Get("appsecret_proof") != AppSecretProof("s3cret", "tok-123") ||
		q.Has("access_token") || f.Calls != 1 || f.Limit.UsagePct != 7 {
		t.Errorf("request %s %v; fetch %+v", got.URL, got.Header, f)
	}
	s.TokenInQuery = true
	s.Get(t.Context(), "op", "/1", nil, "tok-123", nil)
	if got.URL.Query().Get("access_token") != "tok-123" || got.Header.Get("Authorization") != "" {
		t.Errorf("token in query: %s %v", got.URL, got.Header)
	}
}

func TestGetHonoursContext(t *testing.T) {
	cl, n := stub(t, http.StatusServiceUnavailable, nil, `{"error":{"code":2,"message":"x"}}`)
	cl.Backoff = time.Hour
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	f := &platforms.Fetch{}
	_, err := cl.NewSession(f).Get(ctx, "op", "/1", nil, "token-value-1", nil)
	if platforms.ClassOf(err) != platforms.Transient || !errors.Is(err, context.DeadlineExceeded) || n.Load() != 1 {
		t.Errorf("error %v after %d calls", err, n.Load())
	}
}

func TestTokenRequest(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   platforms.Class
		code   int
	}{
		{400, `{"error":{"message":"Error validating access token: Session has expired $TOKEN","type":"OAuthException","code":190,"error_subcode":463}}`, platforms.Reauth, 190},
		{400, `{"error":{"message":"Invalid verification code format.","code":100,"error_subcode":36007}}`, platforms.Reauth, 100},
		{400, `{"error":{"message":"Error validating client secret.","code":101}}`, platforms.Permanent, 101},
		{400, `{"error":{"message":"(#4) Application request limit reached","code":4,"is_transient":true}}`, platforms.Throttled, 4},
		{500, `{"error":{"message":"An unknown error occurred","code":1}}`, platforms.Transient, 1},
		{404, `<html>`, platforms.Permanent, 0},
		{200, `{"access_token":`, platforms.Transient, 0},
		{200, `{"token_type":"bearer"}`, platforms.Transient, 0},
	} {
		cl, n := stub(t, c.status, nil, c.body)
		const tok = "long-lived-token-value"
		_, err := cl.Refresh(t.Context(), &oauth2.Token{AccessToken: tok, Expiry: now.Add(time.Hour)})
		var pe *platforms.Error
		if !errors.As(err, &pe) || pe.Class != c.want || pe.Code != c.code || pe.Op != "refresh" {
			t.Errorf("%d %.40s: %v (%+v), want %v", c.status, c.body, err, pe, c.want)
			continue
		}
		if strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), "app-secret-value") || n.Load() != 1 {
			t.Errorf("%v after %d calls", err, n.Load())
		}
	}

	cl, _ := stub(t, 200, nil, `{"access_token":"new-token","token_type":"bearer","expires_in":5183944}`)
	tok, err := cl.Refresh(t.Context(), &oauth2.Token{AccessToken: "old-token-value", Expiry: now.Add(time.Hour)})
	if err != nil || tok.AccessToken != "new-token" || !tok.Expiry.Equal(now.Add(5183944*time.Second)) || tok.Type() != "Bearer" {
		t.Errorf("Refresh: %+v, %v", tok, err)
	}
	for _, bad := range []*oauth2.Token{nil, {}, {AccessToken: "expired-token", Expiry: now}} {
		if _, err := cl.Refresh(t.Context(), bad); platforms.ClassOf(err) != platforms.Reauth {
			t.Errorf("Refresh(%+v): %v", bad, err)
		}
	}
	cl, _ = stub(t, 200, nil, `{"data":[{"access_token":"ig-token","user_id":17841400000000001,"permissions":"instagram_business_basic"}]}`)
	tok, err = cl.TokenRequest(t.Context(), "exchange", http.MethodPost, cl.BaseURL+"/oauth/access_token", url.Values{"code": {"c"}}, platforms.Permanent)
	if err != nil || tok.AccessToken != "ig-token" || tok.Extra("user_id") != "17841400000000001" || !tok.Expiry.IsZero() {
		t.Errorf("wrapped token: %+v %v", tok, err)
	}

	parseOnly, _ := New(topics.Facebook, platforms.Config{}, nil, DefaultBaseURL, DefaultAuthBaseURL)
	if _, err := parseOnly.Exchange(t.Context(), "code"); platforms.ClassOf(err) != platforms.Permanent {
		t.Errorf("parse-only Exchange: %v", err)
	}
	if _, err := parseOnly.Refresh(t.Context(), &oauth2.Token{AccessToken: "x"}); platforms.ClassOf(err) != platforms.Permanent {
		t.Errorf("parse-only Refresh: %v", err)
	}
	ts := httptest.NewServer(http.NotFoundHandler())
	ts.Close()
	unreachable, _ := New(topics.Facebook, platforms.Config{BaseURL: ts.URL, ClientID: "a", ClientSecret: "app-secret-value"}, nil, DefaultBaseURL, DefaultAuthBaseURL)
	_, err = unreachable.TokenRequest(t.Context(), "refresh", http.MethodGet, unreachable.BaseURL+"/refresh",
		url.Values{"access_token": {"query-token-value"}}, platforms.Reauth, "query-token-value")
	if platforms.ClassOf(err) != platforms.Transient || strings.Contains(err.Error(), "query-token-value") {
		t.Errorf("unreachable: %v", err)
	}
}
