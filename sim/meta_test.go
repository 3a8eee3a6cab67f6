package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse/topics"
)

const metaRedirect = "https://pulse.example/oauth/meta/callback"

// on returns a copy of e whose get and postForm address platform p.
func (e *env) on(p topics.Platform) *env {
	c := *e
	c.base = BaseURL(e.ts.URL, p)
	return &c
}

// metaToken issues a token for the i-th account of p.
func (e *env) metaToken(p topics.Platform, i int) (access, id string) {
	e.t.Helper()
	id = e.srv.Accounts(p)[i].ID
	access, refresh, exp, err := e.srv.IssueToken(p, id)
	if err != nil {
		e.t.Fatal(err)
	}
	if refresh != "" || !exp.Equal(e.clock.Now().Add(MetaLongLivedTTL)) {
		e.t.Errorf("IssueToken(%s): refresh %q, expiry %v", p, refresh, exp)
	}
	return access, id
}

type metaErr struct {
	Error struct {
		Message     string `json:"message"`
		Type        string `json:"type"`
		Code        int    `json:"code"`
		Subcode     int    `json:"error_subcode"`
		IsTransient bool   `json:"is_transient"`
		FBTraceID   string `json:"fbtrace_id"`
	} `json:"error"`
}

// wantMetaError asserts a Graph API error answer.
func wantMetaError(t *testing.T, status int, body []byte, wantStatus, code, subcode int) metaErr {
	t.Helper()
	me := decode[metaErr](t, body)
	if status != wantStatus || me.Error.Code != code || me.Error.Subcode != subcode || me.Error.Message == "" || me.Error.FBTraceID == "" {
		t.Errorf("got %d %s, want %d with code %d/%d", status, body, wantStatus, code, subcode)
	}
	return me
}

type metaPage struct {
	Data   []map[string]any `json:"data"`
	Paging struct {
		Cursors struct{ Before, After string } `json:"cursors"`
		Next    string                         `json:"next"`
	} `json:"paging"`
}

func TestMetaAccounts(t *testing.T) {
	e := newEnv(t, Config{Accounts: 3})
	for p, first := range map[topics.Platform]int{topics.Facebook: FacebookFirstPageID, topics.Instagram: InstagramFirstAccountID} {
		accts := e.srv.Accounts(p)
		if len(accts) != 3 {
			t.Fatalf("%s: %d accounts", p, len(accts))
		}
		for i, a := range accts {
			if a.ID != strconv.Itoa(first+i) || a.Platform != p || a.Handle == "" {
				t.Errorf("%s account %d: %+v", p, i, a)
			}
		}
		if _, _, _, err := e.srv.IssueToken(p, "42"); err == nil {
			t.Errorf("%s: IssueToken for an unknown account succeeded", p)
		}
	}

	// Facebook: the user token lists its Page with a working Page token.
	fb := e.on(topics.Facebook)
	user, page := fb.metaToken(topics.Facebook, 1)
	status, _, body := fb.get("/v24.0/me/accounts?fields=id,name,access_token,tasks", user)
	list := decode[metaPage](t, body)
	if status != http.StatusOK || len(list.Data) != 1 || list.Data[0]["id"] != page || list.Data[0]["access_token"] == "" {
		t.Fatalf("me/accounts: %d %s", status, body)
	}
	pageToken := list.Data[0]["access_token"].(string)
	if _, _, again := fb.get("/v24.0/me/accounts?fields=access_token", user); !strings.Contains(string(again), pageToken) {
		t.Errorf("a second call issued another Page token: %s", again)
	}
	if !slices.Contains(e.srv.Secrets(), pageToken) {
		t.Error("Secrets lacks the Page token")
	}
	if status, _, body := fb.get("/v24.0/"+page+"?fields=id,followers_count", pageToken); status != http.StatusOK {
		t.Errorf("Page with its token: %d %s", status, body)
	}
	if status, _, body := fb.get("/v24.0/me?fields=id", pageToken); status != http.StatusOK || !strings.Contains(string(body), page) {
		t.Errorf("/me with a Page token: %d %s", status, body)
	}
	status, _, body = fb.get("/v24.0/me/accounts", pageToken)
	wantMetaError(t, status, body, http.StatusBadRequest, 100, 0)
	// Revoking the user token revokes its Page token.
	e.srv.Revoke(user)
	status, _, body = fb.get("/v24.0/"+page, pageToken)
	wantMetaError(t, status, body, http.StatusBadRequest, 190, 0)

	// Instagram: the user token lists the Page and its Instagram account.
	ig := e.on(topics.Instagram)
	user, igID := ig.metaToken(topics.Instagram, 2)
	status, _, body = ig.get("/v24.0/me/accounts?fields=instagram_business_account", user)
	list = decode[metaPage](t, body)
	want := map[string]any{"id": strconv.Itoa(InstagramFirstPageID + 2), "instagram_business_account": map[string]any{"id": igID}}
	if status != http.StatusOK || len(list.Data) != 1 || fmt.Sprint(list.Data[0]) != fmt.Sprint(want) {
		t.Errorf("me/accounts: %d %s", status, body)
	}
	// Tokens are per platform.
	status, _, body = fb.get("/v24.0/me/accounts", user)
	wantMetaError(t, status, body, http.StatusBadRequest, 190, 0)
}

func TestFacebookPageAndPosts(t *testing.T) {
	e := newEnv(t, Config{})
	fb := e.on(topics.Facebook)
	tok, id := fb.metaToken(topics.Facebook, 0)
	acct := e.srv.Accounts(topics.Facebook)[0]
	m, _ := e.srv.Metrics(topics.Facebook, id, start)

	_, _, body := fb.get("/v24.0/"+id+"?fields=id,name,username,followers_count,fan_count", tok)
	want := fmt.Sprintf(`{"id":%q,"name":%q,"username":%q,"followers_count":%d,"fan_count":%d}`, id, acct.Name, acct.Handle, m.Followers, fanCount(m.Followers))
	if string(body) != want {
		t.Errorf("page\n%s\nwant\n%s", body, want)
	}
	if _, _, body := fb.get("/v24.0/"+id, tok); string(body) != fmt.Sprintf(`{"id":%q,"name":%q}`, id, acct.Name) {
		t.Errorf("default fields: %s", body)
	}
	status, _, body := fb.get("/v24.0/"+id+"?fields=id,followers", tok)
	if me := wantMetaError(t, status, body, http.StatusBadRequest, 100, 0); !strings.Contains(me.Error.Message, "(followers)") {
		t.Errorf("unknown field: %s", body)
	}
	status, _, body = fb.get("/v24.0/"+strconv.Itoa(FacebookFirstPageID+5), tok)
	wantMetaError(t, status, body, http.StatusBadRequest, 100, 33)
	status, _, body = fb.get("/v25/"+id, tok)
	wantMetaError(t, status, body, http.StatusBadRequest, 2500, 0)

	// Posts, paged by cursors, as Posts has them.
	fields := "id,message,created_time,permalink_url,shares,reactions.summary(total_count).limit(0),comments.summary(true).limit(0)"
	simPosts, _ := e.srv.Posts(topics.Facebook, id, start, 60)
	q := url.Values{"fields": {fields}, "limit": {"25"}}
	var got []map[string]any
	for page := 0; page < 3; page++ {
		status, _, body := fb.get("/v24.0/"+id+"/posts?"+q.Encode(), tok)
		p := decode[metaPage](t, body)
		if status != http.StatusOK || len(p.Data) != 25 || p.Paging.Next == "" || p.Paging.Cursors.After == "" {
			t.Fatalf("page %d: %d %.300s", page, status, body)
		}
		got = append(got, p.Data...)
		q.Set("after", p.Paging.Cursors.After)
	}
	for i, sp := range simPosts {
		g := got[i]
		shares := int64(0)
		if s, ok := g["shares"].(map[string]any); ok {
			shares = int64(s["count"].(float64))
		} else if _, present := g["shares"]; present {
			t.Errorf("post %d: shares %v", i, g["shares"])
		}
		likes := g["reactions"].(map[string]any)["summary"].(map[string]any)["total_count"].(float64)
		comments := g["comments"].(map[string]any)["summary"].(map[string]any)["total_count"].(float64)
		msg, _ := g["message"].(string)
		if g["id"] != sp.ID || g["created_time"] != sp.CreatedAt.Format("2006-01-02T15:04:05-0700") || msg != sp.Text ||
			g["permalink_url"] != sp.Permalink || shares != sp.Reposts || int64(likes) != sp.Likes || int64(comments) != sp.Replies {
			t.Fatalf("post %d = %v, want %+v", i, g, sp)
		}
		if strings.Contains(msg, "&amp;") || strings.Contains(msg, "&lt;") {
			t.Errorf("post %d text is HTML-escaped: %q", i, msg)
		}
	}
	empty := 0
	all, _ := e.srv.Posts(topics.Facebook, id, start, 0)
	for _, p := range all {
		if !strings.HasPrefix(p.ID, id+"_") || !strings.HasPrefix(p.Permalink, "https://www.facebook.com/"+acct.Handle+"/posts/") {
			t.Fatalf("post %+v", p)
		}
		if p.Text == "" {
			empty++
		}
	}
	if empty == 0 || empty > len(all)/4 {
		t.Errorf("%d of %d posts without a message", empty, len(all))
	}

	// since and until restrict by creation time, inclusively.
	since, until := simPosts[9].CreatedAt.Unix(), simPosts[2].CreatedAt.Unix()
	_, _, body = fb.get(fmt.Sprintf("/v24.0/%s/posts?since=%d&until=%d", id, since, until), tok)
	p := decode[metaPage](t, body)
	if len(p.Data) != 8 || p.Data[0]["id"] != simPosts[2].ID || p.Data[7]["id"] != simPosts[9].ID || p.Paging.Next != "" {
		t.Errorf("since/until: %s", body)
	}
	if _, _, body = fb.get(fmt.Sprintf("/v24.0/%s/posts?since=%d", id, start.Unix()+1), tok); string(body) != `{"data":[]}` {
		t.Errorf("nothing since now: %s", body)
	}
	for _, bad := range []string{"limit=0", "limit=x", "since=yesterday", "after=bogus"} {
		status, _, body := fb.get("/v24.0/"+id+"/posts?"+bad, tok)
		wantMetaError(t, status, body, http.StatusBadRequest, 100, 0)
	}
	if _, _, body := fb.get("/v24.0/"+id+"/posts?limit=500", tok); len(decode[metaPage](t, body).Data) != 100 {
		t.Error("limit is not capped at 100")
	}
	// Defaults: 25 posts with created_time, message and id.
	_, _, body = fb.get("/v24.0/"+id+"/posts", tok)
	if d := decode[metaPage](t, body).Data; len(d) != 25 || d[0]["created_time"] == nil || d[0]["permalink_url"] != nil {
		t.Errorf("default posts: %.200s", body)
	}
}

func TestInstagramUserAndMedia(t *testing.T) {
	e := newEnv(t, Config{})
	ig := e.on(topics.Instagram)
	tok, id := ig.metaToken(topics.Instagram, 3)
	acct := e.srv.Accounts(topics.Instagram)[3]
	m, _ := e.srv.Metrics(topics.Instagram, id, start)

	_, _, body := ig.get("/v24.0/"+id+"?fields=id,username,followers_count,follows_count,media_count", tok)
	want := fmt.Sprintf(`{"id":%q,"username":%q,"followers_count":%d,"follows_count":%d,"media_count":%d}`, id, acct.Handle, m.Followers, m.Following, m.Posts)
	if string(body) != want {
		t.Errorf("user\n%s\nwant\n%s", body, want)
	}
	status, _, body := ig.get("/v24.0/"+strconv.Itoa(InstagramFirstAccountID)+"?fields=id", tok)
	wantMetaError(t, status, body, http.StatusBadRequest, 100, 33)

	simPosts, _ := e.srv.Posts(topics.Instagram, id, start, 30)
	_, _, body = ig.get("/v24.0/"+id+"/media?fields=id,caption,like_count,comments_count,timestamp,permalink,media_type", tok)
	p := decode[metaPage](t, body)
	if len(p.Data) != 25 || p.Paging.Next == "" {
		t.Fatalf("media: %.300s", body)
	}
	for i, g := range p.Data {
		sp := simPosts[i]
		if g["id"] != sp.ID || g["caption"] != sp.Text || int64(g["like_count"].(float64)) != sp.Likes || int64(g["comments_count"].(float64)) != sp.Replies ||
			g["timestamp"] != sp.CreatedAt.Format("2006-01-02T15:04:05-0700") || g["permalink"] != sp.Permalink || g["media_type"] == "" {
			t.Fatalf("media %d = %v, want %+v", i, g, sp)
		}
		if len(sp.ID) != 17 || !strings.HasPrefix(sp.Permalink, "https://www.instagram.com/p/") {
			t.Errorf("media %+v", sp)
		}
	}
	_, _, body = ig.get("/v24.0/"+id+"/media?limit=5&after="+p.Paging.Cursors.After, tok)
	if d := decode[metaPage](t, body).Data; len(d) != 5 || d[0]["id"] != simPosts[25].ID || len(d[0]) != 1 {
		t.Errorf("second page: %s", body)
	}
	status, _, body = ig.get("/v24.0/"+id+"/media?fields=id,shares", tok)
	wantMetaError(t, status, body, http.StatusBadRequest, 100, 0)
}

func TestMetaScopes(t *testing.T) {
	e := newEnv(t, Config{})
	for _, c := range []struct {
		p      topics.Platform
		scope  string
		path   func(id string) string
		status int
		code   int
		empty  bool
	}{
		{topics.Facebook, "pages_read_engagement", func(string) string { return "/v24.0/me/accounts" }, 200, 0, true},
		{topics.Facebook, "pages_show_list", func(id string) string { return "/v24.0/" + id + "/posts" }, 400, 10, false},
		{topics.Instagram, "instagram_basic", func(string) string { return "/v24.0/me/accounts?fields=instagram_business_account" }, 200, 0, true},
		{topics.Instagram, "pages_show_list", func(id string) string { return "/v24.0/" + id + "/media" }, 400, 10, false},
	} {
		pe := e.on(c.p)
		id := e.srv.Accounts(c.p)[0].ID
		code := pe.metaAuthorize(url.Values{"client_id": {"app"}, "redirect_uri": {metaRedirect}, "scope": {c.scope}, "state": {"s"}}, "")
		status, tok := pe.metaExchange(url.Values{"client_id": {"app"}, "client_secret": {"shh"}, "redirect_uri": {metaRedirect}, "code": {code}}, http.MethodPost)
		if status != http.StatusOK {
			t.Fatalf("%s: exchange %d %v", c.p, status, tok)
		}
		status, _, body := pe.get(c.path(id), tok["access_token"].(string))
		switch {
		case c.empty:
			if status != c.status || string(body) != `{"data":[]}` {
				t.Errorf("%s with %s: %d %s", c.p, c.scope, status, body)
			}
		default:
			wantMetaError(t, status, body, c.status, c.code, 0)
		}
	}
}

// metaAuthorize approves Meta's dialog with params as account (first when
// empty) and returns the code.
func (e *env) metaAuthorize(params url.Values, account string) string {
	e.t.Helper()
	status, _, body := e.do(mustRequest(e.t, http.MethodGet, e.base+"/v24.0/dialog/oauth?"+params.Encode()))
	if status != http.StatusOK || !strings.Contains(string(body), "<form") {
		e.t.Fatalf("dialog: %d %s", status, body)
	}
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	if account != "" {
		form.Set("account", account)
	}
	status, h, body := e.postForm("/v24.0/dialog/oauth", form, "", "")
	if status != http.StatusFound {
		e.t.Fatalf("dialog decision: %d %s", status, body)
	}
	loc, err := url.Parse(h.Get("Location"))
	if err != nil || loc.Fragment != "_=_" || loc.Query().Get("state") != params.Get("state") || loc.Query().Get("code") == "" {
		e.t.Fatalf("redirect %s", h.Get("Location"))
	}
	return loc.Query().Get("code")
}

// metaExchange calls the token endpoint with form, by GET or POST.
func (e *env) metaExchange(form url.Values, method string) (int, map[string]any) {
	e.t.Helper()
	var status int
	var body []byte
	if method == http.MethodGet {
		status, _, body = e.do(mustRequest(e.t, http.MethodGet, e.base+"/v24.0/oauth/access_token?"+form.Encode()))
	} else {
		status, _, body = e.postForm("/v24.0/oauth/access_token", form, "", "")
	}
	return status, decode[map[string]any](e.t, body)
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestMetaOAuth(t *testing.T) {
	e := newEnv(t, Config{Facebook: FacebookConfig{Clients: map[string]string{"app": "app-secret"}}})
	fb := e.on(topics.Facebook)
	params := url.Values{"client_id": {"app"}, "redirect_uri": {metaRedirect}, "scope": {"pages_show_list,pages_read_engagement"}, "state": {"xyz"}, "response_type": {"code"}}
	page := e.srv.Accounts(topics.Facebook)[4].ID

	for _, bad := range []url.Values{
		{"redirect_uri": {metaRedirect}},
		{"client_id": {"other-app"}, "redirect_uri": {metaRedirect}},
		{"client_id": {"app"}, "redirect_uri": {"/relative"}},
		{"client_id": {"app"}, "redirect_uri": {metaRedirect}, "scope": {"pages_show_list,tweet.read"}},
		{"client_id": {"app"}, "redirect_uri": {metaRedirect}, "response_type": {"token"}},
	} {
		if status, _, body := fb.do(mustRequest(t, http.MethodGet, fb.base+"/v24.0/dialog/oauth?"+bad.Encode())); status != http.StatusBadRequest {
			t.Errorf("dialog %v: %d %s", bad, status, body)
		}
	}

	code := fb.metaAuthorize(params, page)
	creds := url.Values{"client_id": {"app"}, "client_secret": {"app-secret"}, "redirect_uri": {metaRedirect}, "code": {code}}
	status, short := fb.metaExchange(creds, http.MethodGet)
	if status != http.StatusOK || short["token_type"] != "bearer" || short["expires_in"] != float64(MetaShortLivedTTL/time.Second) || short["access_token"] == "" {
		t.Fatalf("code exchange: %d %v", status, short)
	}

	// The long-lived upgrade; the short-lived token stays valid.
	upgrade := url.Values{"grant_type": {"fb_exchange_token"}, "client_id": {"app"}, "client_secret": {"app-secret"}, "fb_exchange_token": {short["access_token"].(string)}}
	status, long := fb.metaExchange(upgrade, http.MethodPost)
	if status != http.StatusOK || long["expires_in"] != float64(MetaLongLivedTTL/time.Second) || long["access_token"] == short["access_token"] {
		t.Fatalf("fb_exchange_token: %d %v", status, long)
	}
	for _, tok := range []any{short["access_token"], long["access_token"]} {
		if status, _, body := fb.get("/v24.0/me/accounts", tok.(string)); status != http.StatusOK || !strings.Contains(string(body), page) {
			t.Errorf("token of the chosen Page: %d %s", status, body)
		}
	}
	// A replayed code is refused, and revokes the token issued from it.
	status, body := fb.metaExchange(creds, http.MethodGet)
	wantMetaError(t, status, marshal(body), http.StatusBadRequest, 100, 36009)
	if status, _, _ := fb.get("/v24.0/me/accounts", short["access_token"].(string)); status == http.StatusOK {
		t.Error("token of a replayed code still valid")
	}
	// Past its expiry, a token cannot be exchanged.
	status, _ = fb.metaExchange(upgrade, http.MethodPost)
	if status != http.StatusBadRequest {
		t.Errorf("revoked token exchanged: %d", status)
	}
	upgrade.Set("fb_exchange_token", long["access_token"].(string))
	e.clock.Advance(MetaLongLivedTTL)
	status, body = fb.metaExchange(upgrade, http.MethodPost)
	wantMetaError(t, status, marshal(body), http.StatusBadRequest, 190, 463)
	upgrade.Set("fb_exchange_token", "not-a-token")
	status, body = fb.metaExchange(upgrade, http.MethodPost)
	wantMetaError(t, status, marshal(body), http.StatusBadRequest, 190, 0)

	for _, c := range []struct {
		edit    func(url.Values)
		code    int
		subcode int
	}{
		{func(v url.Values) { v.Del("client_secret") }, 101, 0},
		{func(v url.Values) { v.Set("client_secret", "wrong") }, 101, 0},
		{func(v url.Values) { v.Set("client_id", "other") }, 101, 0},
		{func(v url.Values) { v.Set("redirect_uri", "https://elsewhere.example/cb") }, 100, 36008},
		{func(v url.Values) { v.Set("code", "bogus") }, 100, 36007},
		{func(v url.Values) { v.Set("grant_type", "password") }, 100, 0},
	} {
		v := url.Values{"client_id": {"app"}, "client_secret": {"app-secret"}, "redirect_uri": {metaRedirect}, "code": {fb.metaAuthorize(params, "")}}
		c.edit(v)
		status, body := fb.metaExchange(v, http.MethodPost)
		wantMetaError(t, status, marshal(body), http.StatusBadRequest, c.code, c.subcode)
	}
	// Codes expire.
	code = fb.metaAuthorize(params, "")
	e.clock.Advance(CodeTTL)
	creds.Set("code", code)
	status, body = fb.metaExchange(creds, http.MethodPost)
	wantMetaError(t, status, marshal(body), http.StatusBadRequest, 100, 36007)

	// Denial, through the Authorize helper.
	loc, err := Authorize(t.Context(), e.ts.Client(), fb.base+"/v24.0/dialog/oauth?"+params.Encode(), Consent{Deny: true})
	if err != nil {
		t.Fatal(err)
	}
	if q := loc.Query(); q.Get("error") != "access_denied" || q.Get("error_reason") != "user_denied" || q.Get("state") != "xyz" || q.Get("code") != "" {
		t.Errorf("denied: %s", loc)
	}
	if _, err := Authorize(t.Context(), e.ts.Client(), fb.base+"/v24.0/dialog/oauth?client_id=app", Consent{}); err == nil {
		t.Error("Authorize of an invalid request succeeded")
	}

	st := e.srv.Stats().Platforms[topics.Facebook]
	if st.Endpoints[MetaEndpointToken].Requests == 0 || st.Endpoints[MetaEndpointDialog].Errors == 0 || st.Apps["app"].Requests == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestMetaRateLimits(t *testing.T) {
	e := newEnv(t, Config{
		Facebook:  FacebookConfig{App: Limit{Requests: 4}, Page: Limit{Requests: 2}},
		Instagram: InstagramConfig{User: Limit{Requests: 2, Window: 30 * time.Minute}},
	})
	fb := e.on(topics.Facebook)
	tok, id := fb.metaToken(topics.Facebook, 0)

	status, h, _ := fb.get("/v24.0/me/accounts", tok)
	if status != http.StatusOK || h.Get("X-App-Usage") != `{"call_count":25,"total_cputime":6,"total_time":12}` || h.Get("X-Business-Use-Case-Usage") != "" {
		t.Errorf("me/accounts: %d %v", status, h)
	}
	_, h, _ = fb.get("/v24.0/"+id, tok)
	if want := `{"` + id + `":[{"type":"pages","call_count":50,"total_cputime":12,"total_time":25,"estimated_time_to_regain_access":0}]}`; h.Get("X-Business-Use-Case-Usage") != want {
		t.Errorf("BUC header %s, want %s", h.Get("X-Business-Use-Case-Usage"), want)
	}
	fb.get("/v24.0/"+id, tok)
	e.clock.Advance(10 * time.Minute)
	status, h, body := fb.get("/v24.0/"+id, tok)
	wantMetaError(t, status, body, http.StatusBadRequest, 80001, 0)
	if want := `{"` + id + `":[{"type":"pages","call_count":100,"total_cputime":25,"total_time":50,"estimated_time_to_regain_access":1430}]}`; h.Get("X-Business-Use-Case-Usage") != want {
		t.Errorf("throttled BUC header %s, want %s", h.Get("X-Business-Use-Case-Usage"), want)
	}
	fb.get("/v24.0/me/accounts", tok) // the app's fourth call
	status, h, body = fb.get("/v24.0/me/accounts", tok)
	if me := wantMetaError(t, status, body, http.StatusBadRequest, 4, 0); !me.Error.IsTransient || !strings.Contains(h.Get("X-App-Usage"), `"call_count":100`) {
		t.Errorf("app limit: %s %v", body, h)
	}
	e.clock.Advance(MetaUsageWindow)
	if status, _, body := fb.get("/v24.0/me/accounts", tok); status != http.StatusOK {
		t.Errorf("after the app window: %d %s", status, body)
	}
	if st := e.srv.Stats().Platforms[topics.Facebook]; st.LimitBreaches != 2 || st.Accounts[id].LimitBreaches != 2 {
		t.Errorf("stats %+v", st)
	}

	// Instagram: every call counts against the account's limit.
	ig := e.on(topics.Instagram)
	tok, id = ig.metaToken(topics.Instagram, 0)
	ig.get("/v24.0/me/accounts?fields=instagram_business_account", tok)
	ig.get("/v24.0/"+id, tok)
	status, h, body = ig.get("/v24.0/"+id+"/media", tok)
	wantMetaError(t, status, body, http.StatusBadRequest, 80002, 0)
	if want := `{"` + id + `":[{"type":"instagram","call_count":100,"total_cputime":25,"total_time":50,"estimated_time_to_regain_access":30}]}`; h.Get("X-Business-Use-Case-Usage") != want {
		t.Errorf("instagram BUC header %s", h.Get("X-Business-Use-Case-Usage"))
	}
	// Another account has its own window.
	other, otherID := ig.metaToken(topics.Instagram, 1)
	if status, _, _ := ig.get("/v24.0/"+otherID, other); status != http.StatusOK {
		t.Errorf("other account: %d", status)
	}

	// Default limits: 200 per account per hour on Instagram.
	d := newEnv(t, Config{Accounts: 2})
	ig = d.on(topics.Instagram)
	tok, id = ig.metaToken(topics.Instagram, 0)
	for i := range DefaultInstagramUserLimit {
		if status, _, body := ig.get("/v24.0/"+id, tok); status != http.StatusOK {
			t.Fatalf("call %d: %d %s", i, status, body)
		}
	}
	status, _, body = ig.get("/v24.0/"+id, tok)
	wantMetaError(t, status, body, http.StatusBadRequest, 80002, 0)
}

func TestMetaFaults(t *testing.T) {
	e := newEnv(t, Config{Facebook: FacebookConfig{App: Limit{Requests: -1}, Page: Limit{Requests: -1}}})
	fb := e.on(topics.Facebook)
	tok, id := fb.metaToken(topics.Facebook, 0)
	set := func(f Faults) {
		t.Helper()
		if err := e.srv.SetFaults(topics.Facebook, f); err != nil {
			t.Fatal(err)
		}
	}
	set(Faults{ServerError: Fault{Next: 1}})
	status, _, body := fb.get("/v24.0/"+id, tok)
	if me := wantMetaError(t, status, body, http.StatusServiceUnavailable, 2, 0); !me.Error.IsTransient {
		t.Errorf("503 not transient: %s", body)
	}
	set(Faults{BadRequest: Fault{Next: 1}})
	status, _, body = fb.get("/v24.0/"+id, tok)
	wantMetaError(t, status, body, http.StatusBadRequest, 100, 0)
	// Unmetered: an injected throttle is the per-endpoint 613.
	set(Faults{RateLimit: Fault{Next: 1}})
	status, h, body := fb.get("/v24.0/"+id, tok)
	wantMetaError(t, status, body, http.StatusBadRequest, 613, 0)
	if h.Get("X-App-Usage") == "" {
		t.Errorf("injected throttle without usage header: %v", h)
	}
	set(Faults{Revoke: Fault{Next: 1}})
	status, _, body = fb.get("/v24.0/"+id, tok)
	wantMetaError(t, status, body, http.StatusBadRequest, 190, 0)
	if st := e.srv.Stats().Platforms[topics.Facebook]; st.Faults != 4 || st.Errors != 4 {
		t.Errorf("stats %+v", st)
	}

	// X's injected 400.
	x := newEnv(t, Config{X: XConfig{Faults: Faults{BadRequest: Fault{Next: 1}}}})
	access, _, _ := x.token(0)
	status, _, body = x.get("/2/users/me", access)
	if status != http.StatusBadRequest || !strings.Contains(string(body), "Invalid Request") {
		t.Errorf("X injected 400: %d %s", status, body)
	}
}

func TestAppSecretProof(t *testing.T) {
	e := newEnv(t, Config{Facebook: FacebookConfig{Clients: map[string]string{"app": "app-secret"}}})
	fb := e.on(topics.Facebook)
	code := fb.metaAuthorize(url.Values{"client_id": {"app"}, "redirect_uri": {metaRedirect}, "scope": {facebookScope}, "state": {"s"}}, "")
	_, tok := fb.metaExchange(url.Values{"client_id": {"app"}, "client_secret": {"app-secret"}, "redirect_uri": {metaRedirect}, "code": {code}}, http.MethodPost)
	access := tok["access_token"].(string)
	proof := func(secret string) string {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(access))
		return hex.EncodeToString(mac.Sum(nil))
	}
	if status, _, body := fb.get("/v24.0/me/accounts?appsecret_proof="+proof("app-secret"), access); status != http.StatusOK {
		t.Errorf("valid proof: %d %s", status, body)
	}
	status, _, body := fb.get("/v24.0/me/accounts?appsecret_proof="+proof("wrong"), access)
	wantMetaError(t, status, body, http.StatusBadRequest, 100, 0)
	// The token may also come as a parameter.
	if status, _, body := fb.get("/v24.0/me/accounts?access_token="+access, ""); status != http.StatusOK {
		t.Errorf("access_token parameter: %d %s", status, body)
	}
	// IssueToken's app has no secret: proofs are not checked.
	issued, _ := fb.metaToken(topics.Facebook, 0)
	if status, _, _ := fb.get("/v24.0/me/accounts?appsecret_proof=00", issued); status != http.StatusOK {
		t.Errorf("unverifiable proof refused: %d", status)
	}
}

func TestMetaDeterministic(t *testing.T) {
	a, _ := New(Config{Seed: 9, Accounts: 2})
	b, _ := New(Config{Seed: 9, Accounts: 2})
	for _, p := range []topics.Platform{topics.Facebook, topics.Instagram} {
		id := a.Accounts(p)[1].ID
		pa, _ := a.Posts(p, id, start, 50)
		pb, _ := b.Posts(p, id, start, 50)
		if len(pa) != 50 || fmt.Sprint(pa) != fmt.Sprint(pb) {
			t.Errorf("%s posts differ between equal seeds", p)
		}
		seen := map[string]bool{}
		for _, post := range pa {
			if seen[post.ID] || post.Permalink == "" {
				t.Errorf("%s post %+v", p, post)
			}
			seen[post.ID] = true
		}
	}
	if _, err := New(Config{Facebook: FacebookConfig{Page: Limit{Window: -time.Second}}}); err == nil {
		t.Error("negative Page window accepted")
	}
	if _, err := New(Config{Instagram: InstagramConfig{Faults: Faults{Malformed: Fault{Probability: 2}}}}); err == nil {
		t.Error("invalid Instagram faults accepted")
	}
	if _, err := New(Config{Facebook: FacebookConfig{Clients: map[string]string{"": "x"}}}); err == nil {
		t.Error("empty client id accepted")
	}
}
