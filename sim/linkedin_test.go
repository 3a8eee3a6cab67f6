package sim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse/topics"
)

const (
	liRedirect = "https://pulse.example/oauth/linkedin/callback"
	liVersion  = "202607"
)

// liGet performs a LinkedIn REST call with the version and Rest.li
// headers (version "" leaves LinkedIn-Version out).
func (e *env) liGet(path, token, version string) (int, http.Header, []byte) {
	e.t.Helper()
	req := mustRequest(e.t, http.MethodGet, BaseURL(e.ts.URL, topics.LinkedIn)+path)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if version != "" {
		req.Header.Set("LinkedIn-Version", version)
	}
	req.Header.Set("X-Restli-Protocol-Version", "2.0.0")
	return e.do(req)
}

// liToken issues a token for the i-th organization.
func (e *env) liToken(i int) (access, refresh string, a Account) {
	e.t.Helper()
	a = e.srv.Accounts(topics.LinkedIn)[i]
	access, refresh, exp, err := e.srv.IssueToken(topics.LinkedIn, a.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if !exp.Equal(e.clock.Now().Add(LinkedInAccessTTL)) {
		e.t.Errorf("IssueToken expiry %v", exp)
	}
	return access, refresh, a
}

type liErr struct {
	Status           int    `json:"status"`
	ServiceErrorCode int    `json:"serviceErrorCode"`
	Code             string `json:"code"`
	Message          string `json:"message"`
}

// wantLIError asserts a LinkedIn error answer with status and code.
func wantLIError(t *testing.T, status int, body []byte, wantStatus int, code string) liErr {
	t.Helper()
	le := decode[liErr](t, body)
	if status != wantStatus || le.Status != wantStatus || le.Code != code || le.Message == "" {
		t.Errorf("got %d %s, want %d %s", status, body, wantStatus, code)
	}
	return le
}

type liPostsPage struct {
	Paging struct {
		Start int `json:"start"`
		Count int `json:"count"`
		Links []struct {
			Rel, Href string
		} `json:"links"`
	} `json:"paging"`
	Elements []struct {
		ID             string `json:"id"`
		Author         string `json:"author"`
		Commentary     string `json:"commentary"`
		LifecycleState string `json:"lifecycleState"`
		CreatedAt      int64  `json:"createdAt"`
		PublishedAt    int64  `json:"publishedAt"`
		Content        *struct {
			Media struct{ ID string } `json:"media"`
		} `json:"content"`
	} `json:"elements"`
}

type liStats struct {
	Elements []struct {
		OrganizationalEntity string `json:"organizationalEntity"`
		Share                string `json:"share"`
		UGCPost              string `json:"ugcPost"`
		TotalShareStatistics struct {
			LikeCount, CommentCount, ShareCount, ImpressionCount, ClickCount, UniqueImpressionsCount int64
			Engagement                                                                               float64
		} `json:"totalShareStatistics"`
	} `json:"elements"`
}

func TestLinkedInAPI(t *testing.T) {
	e := newEnv(t, Config{})
	e.clock.Advance(3*time.Hour + 7*time.Minute)
	now := e.clock.Now()
	tok, _, a := e.liToken(2)
	urn := "urn:li:organization:" + a.ID

	status, _, body := e.liGet("/rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED", tok, liVersion)
	acls := decode[struct {
		Elements []struct{ RoleAssignee, State, Role, Organization string } `json:"elements"`
	}](t, body)
	if status != http.StatusOK || len(acls.Elements) != 1 || acls.Elements[0].Organization != urn ||
		acls.Elements[0].Role != "ADMINISTRATOR" || !strings.HasPrefix(acls.Elements[0].RoleAssignee, "urn:li:person:") {
		t.Errorf("acls: %d %s", status, body)
	}
	if _, _, body := e.liGet("/rest/organizationAcls?q=roleAssignee&role=ANALYST", tok, liVersion); !strings.Contains(string(body), `"elements":[]`) {
		t.Errorf("acls of another role: %s", body)
	}

	status, _, body = e.liGet("/rest/organizations/"+a.ID, tok, liVersion)
	org := decode[map[string]any](t, body)
	if status != http.StatusOK || org["id"] != float64(LinkedInFirstOrganizationID+2) || org["vanityName"] != a.Handle ||
		org["localizedName"] != a.Name || org["$URN"] != urn {
		t.Errorf("organization: %d %s", status, body)
	}

	status, _, body = e.liGet("/rest/networkSizes/"+url.QueryEscape(urn)+"?edgeType=COMPANY_FOLLOWED_BY_MEMBER", tok, liVersion)
	followers, _ := e.srv.Followers(topics.LinkedIn, a.ID, now)
	if status != http.StatusOK || string(body) != `{"firstDegreeSize":`+strconv.FormatInt(followers, 10)+`}` {
		t.Errorf("networkSizes: %d %s, want %d followers", status, body, followers)
	}

	// Posts: newest first, paged by start and count, with links.
	want, _ := e.srv.Posts(topics.LinkedIn, a.ID, now, 60)
	var got []string
	kinds := map[string]bool{}
	for start := 0; start < 60; start += 20 {
		q := url.Values{"q": {"author"}, "author": {urn}, "count": {"20"}, "start": {strconv.Itoa(start)}, "sortBy": {"CREATED"}}
		status, _, body := e.liGet("/rest/posts?"+q.Encode(), tok, liVersion)
		page := decode[liPostsPage](t, body)
		if status != http.StatusOK || len(page.Elements) != 20 || page.Paging.Start != start || page.Paging.Count != 20 {
			t.Fatalf("posts at %d: %d %s", start, status, body)
		}
		rels := map[string]string{}
		for _, l := range page.Paging.Links {
			rels[l.Rel] = l.Href
		}
		if !strings.Contains(rels["next"], "start="+strconv.Itoa(start+20)) || (start > 0) != (rels["prev"] != "") {
			t.Errorf("links at %d: %v", start, rels)
		}
		for _, p := range page.Elements {
			w := want[len(got)]
			if p.ID != w.ID || p.Author != urn || p.CreatedAt != w.CreatedAt.UnixMilli() || p.PublishedAt != p.CreatedAt ||
				p.Commentary != littleText(w.Text) || p.LifecycleState != "PUBLISHED" || (w.Text == "") != (p.Content != nil) {
				t.Errorf("post %+v\nwant %+v", p, w)
			}
			kind, _, _ := splitPostURN(p.ID)
			kinds[kind] = true
			got = append(got, p.ID)
		}
	}
	if !kinds["share"] || !kinds["ugcPost"] {
		t.Errorf("post kinds %v", kinds)
	}

	// Statistics of listed posts, in the request's order; the totals
	// without a list.
	var shares, ugcPosts []string
	var order []Post
	for _, p := range want[:10] {
		if kind, _, _ := splitPostURN(p.ID); kind == "share" {
			shares = append(shares, url.QueryEscape(p.ID))
			order = append(order, p)
		}
	}
	for _, p := range want[:10] {
		if kind, _, _ := splitPostURN(p.ID); kind == "ugcPost" {
			ugcPosts = append(ugcPosts, url.QueryEscape(p.ID))
			order = append(order, p)
		}
	}
	q := "q=organizationalEntity&organizationalEntity=" + url.QueryEscape(urn) +
		"&shares=List(" + strings.Join(shares, ",") + ")&ugcPosts=List(" + strings.Join(ugcPosts, ",") + ")"
	status, _, body = e.liGet("/rest/organizationalEntityShareStatistics?"+q, tok, liVersion)
	stats := decode[liStats](t, body)
	if status != http.StatusOK || len(stats.Elements) != 10 {
		t.Fatalf("statistics: %d %s", status, body)
	}
	for i, el := range stats.Elements {
		p, s := order[i], el.TotalShareStatistics
		if el.Share+el.UGCPost != p.ID || el.OrganizationalEntity != urn || s.LikeCount != p.Likes || s.CommentCount != p.Replies ||
			s.ShareCount != p.Reposts || s.ImpressionCount != p.Impressions || s.UniqueImpressionsCount > s.ImpressionCount {
			t.Errorf("statistics %d: %+v, want %+v", i, el, p)
		}
	}
	status, _, body = e.liGet("/rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity="+url.QueryEscape(urn), tok, liVersion)
	if stats := decode[liStats](t, body); status != http.StatusOK || len(stats.Elements) != 1 || stats.Elements[0].TotalShareStatistics.LikeCount <= want[0].Likes {
		t.Errorf("totals: %d %s", status, body)
	}
}

func TestLinkedInAPIErrors(t *testing.T) {
	e := newEnv(t, Config{})
	tok, _, a := e.liToken(0)
	other := e.srv.Accounts(topics.LinkedIn)[1]
	urn := url.QueryEscape("urn:li:organization:" + a.ID)
	otherPosts, _ := e.srv.Posts(topics.LinkedIn, other.ID, e.clock.Now(), 1)

	for _, c := range []struct {
		path, version string
		status        int
		code          string
	}{
		{"/rest/organizationAcls?q=roleAssignee", "", http.StatusUpgradeRequired, "VERSION_MISSING"},
		{"/rest/organizationAcls?q=roleAssignee", "202511", http.StatusUpgradeRequired, "NONEXISTENT_VERSION"}, // sunset 2026-11-16
		{"/rest/organizationAcls?q=roleAssignee", "202612", http.StatusUpgradeRequired, "NONEXISTENT_VERSION"}, // not released
		{"/rest/organizationAcls?q=roleAssignee", "2026-07", http.StatusUpgradeRequired, "NONEXISTENT_VERSION"},
		{"/rest/organizationAcls", liVersion, http.StatusBadRequest, "QUERY_PARAM_NOT_ALLOWED"},
		{"/rest/organizationAcls?q=roleAssignee&count=1000", liVersion, http.StatusBadRequest, "ILLEGAL_ARGUMENT"},
		{"/rest/organizations/" + other.ID, liVersion, http.StatusForbidden, "ACCESS_DENIED"},
		{"/rest/organizations/42", liVersion, http.StatusNotFound, "NOT_FOUND"},
		{"/rest/networkSizes/" + urn + "?edgeType=CompanyFollowedByMember", liVersion, http.StatusBadRequest, "ILLEGAL_ARGUMENT"},
		{"/rest/posts?q=author&author=" + url.QueryEscape("urn:li:organization:"+other.ID), liVersion, http.StatusForbidden, "ACCESS_DENIED"},
		{"/rest/posts?q=author&author=" + urn + "&sortBy=RELEVANCE", liVersion, http.StatusBadRequest, "ILLEGAL_ARGUMENT"},
		{"/rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity=" + urn +
			"&shares=List(" + url.QueryEscape(otherPosts[0].ID) + ")", liVersion, http.StatusForbidden, "ACCESS_DENIED"},
		{"/rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity=" + urn +
			"&shares=(urn%3Ali%3Ashare%3A1)", liVersion, http.StatusBadRequest, "ILLEGAL_ARGUMENT"},
	} {
		status, _, body := e.liGet(c.path, tok, c.version)
		wantLIError(t, status, body, c.status, c.code)
	}
	for _, v := range []string{liVersion, "202607.01", "202601"} {
		if status, _, body := e.liGet("/rest/organizationAcls?q=roleAssignee", tok, v); status != http.StatusOK {
			t.Errorf("version %s: %d %s", v, status, body)
		}
	}
	status, _, body := e.liGet("/rest/organizationAcls?q=roleAssignee", "not-a-token", liVersion)
	if le := wantLIError(t, status, body, http.StatusUnauthorized, "INVALID_ACCESS_TOKEN"); le.ServiceErrorCode != 65600 {
		t.Errorf("serviceErrorCode %d", le.ServiceErrorCode)
	}
	// Rest.li 2.0 lists need the protocol header.
	req := mustRequest(t, http.MethodGet, BaseURL(e.ts.URL, topics.LinkedIn)+"/rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity="+
		urn+"&shares=List(urn%3Ali%3Ashare%3A1)")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("LinkedIn-Version", liVersion)
	status, _, body = e.do(req)
	wantLIError(t, status, body, http.StatusBadRequest, "ILLEGAL_ARGUMENT")
}

// liAuthorize approves the consent form as the administrator of
// organization account with scope and returns the code.
func (e *env) liAuthorize(clientID, scope, account string) string {
	e.t.Helper()
	params := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {liRedirect}, "state": {"st4te"}, "scope": {scope}}
	loc, err := Authorize(e.t.Context(), e.ts.Client(), BaseURL(e.ts.URL, topics.LinkedIn)+"/oauth/v2/authorization?"+params.Encode(), Consent{Account: account})
	if err != nil {
		e.t.Fatal(err)
	}
	if loc.Query().Get("state") != "st4te" || loc.Query().Get("code") == "" {
		e.t.Fatalf("redirect %s", loc)
	}
	return loc.Query().Get("code")
}

func (e *env) liToken2(form url.Values) (int, map[string]any) {
	e.t.Helper()
	status, _, body := e.on(topics.LinkedIn).postForm("/oauth/v2/accessToken", form, "", "")
	return status, decode[map[string]any](e.t, body)
}

func TestLinkedInOAuth(t *testing.T) {
	e := newEnv(t, Config{LinkedIn: LinkedInConfig{Clients: map[string]string{"app": "app-secret"}}})
	base := BaseURL(e.ts.URL, topics.LinkedIn)
	org := e.srv.Accounts(topics.LinkedIn)[3]

	// The consent page lists the organizations; a bad request gets an
	// error page, an unknown scope a redirect.
	params := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {liRedirect}, "state": {"st4te"},
		"scope": {"r_organization_social rw_organization_admin"}}
	if status, _, body := e.do(mustRequest(t, http.MethodGet, base+"/oauth/v2/authorization?"+params.Encode())); status != http.StatusOK ||
		!strings.Contains(string(body), org.Name) || !strings.Contains(string(body), `action="authorization"`) {
		t.Errorf("consent page: %d %s", status, body)
	}
	for _, edit := range []func(url.Values){
		func(v url.Values) { v.Set("client_id", "other") },
		func(v url.Values) { v.Set("redirect_uri", "/relative") },
		func(v url.Values) { v.Set("response_type", "token") },
	} {
		bad := url.Values{}
		for k, v := range params {
			bad[k] = v
		}
		edit(bad)
		if status, _, body := e.do(mustRequest(t, http.MethodGet, base+"/oauth/v2/authorization?"+bad.Encode())); status != http.StatusBadRequest {
			t.Errorf("authorization %v: %d %s", bad, status, body)
		}
	}
	unknown := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {liRedirect}, "state": {"s"}, "scope": {"tweet.read"}}
	status, h, _ := e.do(mustRequest(t, http.MethodGet, base+"/oauth/v2/authorization?"+unknown.Encode()))
	if loc, _ := url.Parse(h.Get("Location")); status != http.StatusFound || loc.Query().Get("error") != "unauthorized_scope_error" || loc.Query().Get("state") != "s" {
		t.Errorf("unknown scope: %d %s", status, h.Get("Location"))
	}
	loc, err := Authorize(t.Context(), e.ts.Client(), base+"/oauth/v2/authorization?"+params.Encode(), Consent{Deny: true})
	if err != nil || loc.Query().Get("error") != LinkedInDenyError || loc.Query().Get("state") != "st4te" || loc.Query().Get("code") != "" {
		t.Errorf("denied: %v, %v", loc, err)
	}

	// The code exchange: a 60-day access token, a 365-day refresh token,
	// LinkedIn's comma-separated scope, no token_type.
	code := e.liAuthorize("app", params.Get("scope"), org.ID)
	creds := url.Values{"grant_type": {"authorization_code"}, "client_id": {"app"}, "client_secret": {"app-secret"}, "redirect_uri": {liRedirect}, "code": {code}}
	status, tok := e.liToken2(creds)
	if status != http.StatusOK || tok["expires_in"] != float64(LinkedInAccessTTL/time.Second) || tok["refresh_token_expires_in"] != float64(LinkedInRefreshTTL/time.Second) ||
		tok["scope"] != "r_organization_social,rw_organization_admin" || tok["refresh_token"] == "" || tok["token_type"] != nil {
		t.Fatalf("exchange: %d %v", status, tok)
	}
	access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
	if _, _, body := e.liGet("/rest/organizationAcls?q=roleAssignee", access, liVersion); !strings.Contains(string(body), org.ID) {
		t.Errorf("token of the chosen organization: %s", body)
	}
	// A replayed code is refused, and revokes the token issued from it.
	status, body := e.liToken2(creds)
	if status != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Errorf("replayed code: %d %v", status, body)
	}
	if status, _, _ := e.liGet("/rest/organizationAcls?q=roleAssignee", access, liVersion); status != http.StatusUnauthorized {
		t.Errorf("token of a replayed code: %d", status)
	}
	if status, body := e.liToken2(url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "client_secret": {"app-secret"},
		"refresh_token": {refresh}}); status != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Errorf("refresh token of a replayed code: %d %v", status, body)
	}
	for _, c := range []struct {
		edit   func(url.Values)
		status int
		code   string
	}{
		{func(v url.Values) { v.Del("client_secret") }, http.StatusUnauthorized, "invalid_client"},
		{func(v url.Values) { v.Set("client_secret", "wrong") }, http.StatusUnauthorized, "invalid_client"},
		{func(v url.Values) { v.Del("client_id") }, http.StatusBadRequest, "invalid_request"},
		{func(v url.Values) { v.Set("redirect_uri", "https://elsewhere.example/cb") }, http.StatusBadRequest, "invalid_request"},
		{func(v url.Values) { v.Set("grant_type", "password") }, http.StatusBadRequest, "unsupported_grant_type"},
		{func(v url.Values) { v.Del("code") }, http.StatusBadRequest, "invalid_request"},
	} {
		v := url.Values{"grant_type": {"authorization_code"}, "client_id": {"app"}, "client_secret": {"app-secret"}, "redirect_uri": {liRedirect},
			"code": {e.liAuthorize("app", "r_organization_social", "")}}
		c.edit(v)
		if status, body := e.liToken2(v); status != c.status || body["error"] != c.code || body["error_description"] == "" {
			t.Errorf("exchange %v: %d %v", v, status, body)
		}
	}

	// Refreshing: a new access token, the same refresh token with what is
	// left of its year; the refresh token dies with the year.
	code = e.liAuthorize("app", "r_organization_social", org.ID)
	creds.Set("code", code)
	_, tok = e.liToken2(creds)
	access, refresh = tok["access_token"].(string), tok["refresh_token"].(string)
	e.clock.Advance(100 * 24 * time.Hour)
	rf := url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "client_secret": {"app-secret"}, "refresh_token": {refresh}}
	status, tok = e.liToken2(rf)
	if status != http.StatusOK || tok["refresh_token"] != refresh || tok["access_token"] == access ||
		tok["expires_in"] != float64(LinkedInAccessTTL/time.Second) || tok["refresh_token_expires_in"] != float64(265*24*time.Hour/time.Second) {
		t.Errorf("refresh: %d %v", status, tok)
	}
	e.clock.Advance(250 * 24 * time.Hour) // day 350: the access token ends with the year
	if status, tok = e.liToken2(rf); status != http.StatusOK || tok["expires_in"] != float64(15*24*time.Hour/time.Second) {
		t.Errorf("refresh on day 350: %d %v", status, tok)
	}
	e.clock.Advance(15 * 24 * time.Hour)
	if status, body := e.liToken2(rf); status != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Errorf("refresh after a year: %d %v", status, body)
	}

	// Revoking.
	access, _, _ = e.liToken(0)
	rv := url.Values{"client_id": {"app"}, "client_secret": {"app-secret"}, "token": {access}}
	if status, _, body := e.on(topics.LinkedIn).postForm("/oauth/v2/revoke", rv, "", ""); status != http.StatusOK || len(body) != 0 {
		t.Errorf("revoke: %d %q", status, body)
	}
	if status, _, _ := e.liGet("/rest/organizationAcls?q=roleAssignee", access, liVersion); status != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", status)
	}

	st := e.srv.Stats().Platforms[topics.LinkedIn]
	if st.Endpoints[LinkedInEndpointToken].Requests == 0 || st.Endpoints[LinkedInEndpointAuthorize].Errors == 0 ||
		st.Endpoints[LinkedInEndpointRevoke].Requests != 1 || st.Apps["app"].Requests == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestLinkedInWithoutRefreshTokens(t *testing.T) {
	e := newEnv(t, Config{LinkedIn: LinkedInConfig{NoRefreshTokens: true, DenyError: "access_denied"}})
	if _, refresh, _ := e.liToken(0); refresh != "" {
		t.Errorf("IssueToken made a refresh token")
	}
	code := e.liAuthorize("app", "r_organization_social", "")
	status, tok := e.liToken2(url.Values{"grant_type": {"authorization_code"}, "client_id": {"app"}, "client_secret": {"s"},
		"redirect_uri": {liRedirect}, "code": {code}})
	if status != http.StatusOK || tok["refresh_token"] != nil || tok["refresh_token_expires_in"] != nil || tok["scope"] != "r_organization_social" {
		t.Errorf("exchange: %d %v", status, tok)
	}
	params := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {liRedirect}, "scope": {"r_organization_social"}}
	loc, err := Authorize(t.Context(), e.ts.Client(), BaseURL(e.ts.URL, topics.LinkedIn)+"/oauth/v2/authorization?"+params.Encode(), Consent{Deny: true})
	if err != nil || loc.Query().Get("error") != "access_denied" {
		t.Errorf("denied: %v, %v", loc, err)
	}
}

func TestLinkedInScopes(t *testing.T) {
	e := newEnv(t, Config{})
	a := e.srv.Accounts(topics.LinkedIn)[0]
	urn := url.QueryEscape("urn:li:organization:" + a.ID)
	paths := map[string]string{
		"acls":       "/rest/organizationAcls?q=roleAssignee",
		"org":        "/rest/organizations/" + a.ID,
		"followers":  "/rest/networkSizes/" + urn + "?edgeType=COMPANY_FOLLOWED_BY_MEMBER",
		"posts":      "/rest/posts?q=author&author=" + urn,
		"statistics": "/rest/organizationalEntityShareStatistics?q=organizationalEntity&organizationalEntity=" + urn,
	}
	for scope, allowed := range map[string]string{
		"r_organization_social":                          "acls posts",
		"rw_organization_admin":                          "acls org followers statistics",
		"r_organization_followers":                       "followers",
		"r_organization_social r_organization_followers": "acls followers posts",
	} {
		code := e.liAuthorize("app", scope, a.ID)
		_, tok := e.liToken2(url.Values{"grant_type": {"authorization_code"}, "client_id": {"app"}, "client_secret": {"s"},
			"redirect_uri": {liRedirect}, "code": {code}})
		for name, path := range paths {
			status, _, body := e.liGet(path, tok["access_token"].(string), liVersion)
			if strings.Contains(" "+allowed+" ", " "+name+" ") {
				if status != http.StatusOK {
					t.Errorf("%s with %q: %d %s", name, scope, status, body)
				}
				continue
			}
			wantLIError(t, status, body, http.StatusForbidden, "ACCESS_DENIED")
		}
	}
}

func TestLinkedInRateLimits(t *testing.T) {
	e := newEnv(t, Config{LinkedIn: LinkedInConfig{App: Limit{Requests: 3}, Member: Limit{Requests: 2}}})
	tok0, _, _ := e.liToken(0)
	tok1, _, _ := e.liToken(1)
	acls := "/rest/organizationAcls?q=roleAssignee"

	// Member 0 has two calls a day; the third is refused, without
	// rate-limit headers, naming the member's limit.
	for i := range 2 {
		if status, h, body := e.liGet(acls, tok0, liVersion); status != http.StatusOK || h.Get("X-RateLimit-Remaining") != "" {
			t.Fatalf("call %d: %d %s", i, status, body)
		}
	}
	status, _, body := e.liGet(acls, tok0, liVersion)
	if le := wantLIError(t, status, body, http.StatusTooManyRequests, "TOO_MANY_REQUESTS"); !strings.Contains(le.Message, "MEMBER DAY limit") {
		t.Errorf("message %q", le.Message)
	}
	// Another endpoint has its own limits.
	if status, _, body := e.liGet("/rest/organizations/"+e.srv.Accounts(topics.LinkedIn)[0].ID, tok0, liVersion); status != http.StatusOK {
		t.Errorf("organizations: %d %s", status, body)
	}
	// Member 1 spends the app's third call; then the app's limit refuses.
	if status, _, _ := e.liGet(acls, tok1, liVersion); status != http.StatusOK {
		t.Errorf("member 1: %d", status)
	}
	status, _, body = e.liGet(acls, tok1, liVersion)
	if le := wantLIError(t, status, body, http.StatusTooManyRequests, "TOO_MANY_REQUESTS"); !strings.Contains(le.Message, "APPLICATION DAY limit") {
		t.Errorf("message %q", le.Message)
	}
	// The windows reset at midnight UTC, not a day after the first call.
	e.clock.set(time.Date(2026, 11, 25, 23, 59, 59, 0, time.UTC))
	if status, _, _ := e.liGet(acls, tok1, liVersion); status != http.StatusTooManyRequests {
		t.Errorf("before midnight: %d", status)
	}
	e.clock.set(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC))
	if status, _, _ := e.liGet(acls, tok0, liVersion); status != http.StatusOK {
		t.Errorf("at midnight: %d", status)
	}
	st := e.srv.Stats().Platforms[topics.LinkedIn]
	if st.LimitBreaches != 3 || st.Endpoints[LinkedInEndpointACLs].LimitBreaches != 3 {
		t.Errorf("stats %+v", st)
	}

	// Hourly windows align to the hour.
	e = newEnv(t, Config{LinkedIn: LinkedInConfig{Member: Limit{Requests: 1, Window: time.Hour}}})
	e.clock.Advance(50 * time.Minute) // 10:50
	tok0, _, _ = e.liToken(0)
	e.liGet(acls, tok0, liVersion)
	status, _, body = e.liGet(acls, tok0, liVersion)
	if le := wantLIError(t, status, body, http.StatusTooManyRequests, "TOO_MANY_REQUESTS"); !strings.Contains(le.Message, "MEMBER HOUR limit") {
		t.Errorf("message %q", le.Message)
	}
	e.clock.Advance(10 * time.Minute) // 11:00
	if status, _, _ := e.liGet(acls, tok0, liVersion); status != http.StatusOK {
		t.Errorf("at the hour: %d", status)
	}
	if _, err := New(Config{LinkedIn: LinkedInConfig{App: Limit{Window: -time.Second}}}); err == nil {
		t.Error("New with a negative window succeeded")
	}
}

func TestLinkedInFaults(t *testing.T) {
	e := newEnv(t, Config{})
	tok, _, _ := e.liToken(0)
	acls := "/rest/organizationAcls?q=roleAssignee"
	for _, c := range []struct {
		f      Faults
		status int
		code   string
	}{
		{Faults{RateLimit: Fault{Next: 1}}, http.StatusTooManyRequests, "TOO_MANY_REQUESTS"},
		{Faults{ServerError: Fault{Next: 1}}, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE"},
		{Faults{BadRequest: Fault{Next: 1}}, http.StatusBadRequest, "ILLEGAL_ARGUMENT"},
	} {
		if err := e.srv.SetFaults(topics.LinkedIn, c.f); err != nil {
			t.Fatal(err)
		}
		status, _, body := e.liGet(acls, tok, liVersion)
		wantLIError(t, status, body, c.status, c.code)
		if status, _, _ := e.liGet(acls, tok, liVersion); status != http.StatusOK {
			t.Errorf("after the fault: %d", status)
		}
	}
	e.srv.SetFaults(topics.LinkedIn, Faults{Malformed: Fault{Next: 1}})
	if status, _, body := e.liGet(acls, tok, liVersion); status != http.StatusOK || json.Valid(body) {
		t.Errorf("malformed: %d %s", status, body)
	}
	e.srv.SetFaults(topics.LinkedIn, Faults{Revoke: Fault{Next: 1}})
	status, _, body := e.liGet(acls, tok, liVersion)
	wantLIError(t, status, body, http.StatusUnauthorized, "INVALID_ACCESS_TOKEN")
	if st := e.srv.Stats().Platforms[topics.LinkedIn]; st.Faults != 5 {
		t.Errorf("faults counted %d, want 5", st.Faults)
	}
}

func TestLinkedInPostIDs(t *testing.T) {
	s, _ := New(Config{Seed: 9})
	ps := s.platforms[topics.LinkedIn]
	li := ps.impl.(*linkedinSim)
	a := ps.accounts[0]
	now := start
	posts, _ := s.Posts(topics.LinkedIn, a.ID, now, 200)
	for _, p := range posts {
		k, ok := li.postNumber(a, p.ID, now)
		if !ok || !a.postTime(k).Equal(p.CreatedAt) {
			t.Fatalf("postNumber(%s) = %d, %v", p.ID, k, ok)
		}
		_, digits, _ := splitPostURN(p.ID)
		id, _ := strconv.ParseUint(digits, 10, 64)
		if time.UnixMilli(int64(id>>22)).UTC() != p.CreatedAt || p.Permalink != "https://www.linkedin.com/feed/update/"+p.ID {
			t.Errorf("post %+v: id time %v", p, time.UnixMilli(int64(id>>22)))
		}
	}
	for _, bad := range []string{"urn:li:share:1", "urn:li:activity:" + strings.TrimPrefix(posts[0].ID, "urn:li:share:"), "share:1",
		strings.Replace(posts[0].ID, "share", "ugcPost", 1), posts[0].ID + "0"} {
		if _, ok := li.postNumber(a, bad, now); ok {
			t.Errorf("postNumber(%q) accepted", bad)
		}
	}
	future, _ := s.Posts(topics.LinkedIn, a.ID, now.Add(24*time.Hour), 1)
	if _, ok := li.postNumber(a, future[0].ID, now); ok {
		t.Error("a post of tomorrow is served today")
	}
}

func TestLittleText(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "",
		"plain words, no markup.": "plain words, no markup.",
		"Q&A (more soon) #golang": `Q&A \(more soon\) {hashtag|\#|golang}`,
		"p99 < 50ms #":            `p99 \< 50ms \#`,
		"a_b*c~d|e\\f@g[h]{i}":    `a\_b\*c\~d\|e\\f\@g\[h\]\{i\}`,
		"#日本 🚀 #buildinpublic!":   `{hashtag|\#|日本} 🚀 {hashtag|\#|buildinpublic}!`,
	} {
		if got := littleText(in); got != want {
			t.Errorf("littleText(%q) = %q, want %q", in, got, want)
		}
	}
}

// set moves the clock to t.
func (c *fakeClock) set(t time.Time) { c.Advance(t.Sub(c.Now())) }
