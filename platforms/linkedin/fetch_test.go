package linkedin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

func TestFetchSnapshotAgainstSimulator(t *testing.T) {
	e := newEnv(t, sim.Config{}, func(c *platforms.Config) { c.MaxPostPages = 2 })
	acct := e.account(3)
	f, err := e.conn.Fetch(t.Context(), e.token(3), platforms.Request{})
	if err != nil {
		t.Fatal(err)
	}
	// ACLs, organization, networkSizes, then posts and statistics per page.
	if f.Calls != 7 || len(f.PostBodies) != 2 || f.AccountID != acct.ID {
		t.Fatalf("fetch: %d calls, %d pages, account %q", f.Calls, len(f.PostBodies), f.AccountID)
	}
	st := e.sim.Stats().Platforms[topics.LinkedIn]
	for ep, want := range map[string]int64{
		sim.LinkedInEndpointACLs: 1, sim.LinkedInEndpointOrganization: 1, sim.LinkedInEndpointNetworkSizes: 1,
		sim.LinkedInEndpointPosts: 2, sim.LinkedInEndpointShareStatistics: 2,
	} {
		if got := st.Endpoints[ep]; got.Requests != want || got.Errors != 0 {
			t.Errorf("%s: %+v, want %d requests", ep, got, want)
		}
	}
	if midnight := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC); f.Limit.Reset != midnight || f.Limit.Remaining != -1 {
		t.Errorf("limit %+v, want unknown until %v", f.Limit, midnight)
	}

	var env postsEnvelope
	if err := json.Unmarshal(f.PostBodies[0], &env); err != nil || len(env.Posts) == 0 || len(env.Statistics) == 0 || env.Since != 0 {
		t.Fatalf("envelope %s: %v", f.PostBodies[0], err)
	}
	var kinds = map[string]int{}
	var marked, engaged, imageOnly int
	simPosts, _ := e.sim.Posts(topics.LinkedIn, acct.ID, e.clock.Now(), 2*PageSize)
	for i, b := range f.PostBodies {
		posts, err := e.conn.ParsePosts(b)
		if err != nil || len(posts) != PageSize {
			t.Fatalf("page %d: %d posts, %v", i, len(posts), err)
		}
		for j, p := range posts {
			if want := simPosts[i*PageSize+j]; p.ID != want.ID || p.Text != want.Text || p.Likes != want.Likes || p.Views != want.Impressions {
				t.Fatalf("post %+v\nwant %+v", p, want)
			}
			kinds[postKind(p.ID)]++
			if strings.ContainsAny(p.Text, "#()<&") {
				marked++
			}
			if p.Likes > 0 && p.Views > 0 {
				engaged++
			}
			if p.Text == "" {
				imageOnly++
			}
		}
	}
	// The sample exercises what the simulator varies: both URN kinds (two
	// statistics lists), little-text escapes and hashtags, image posts.
	if kinds["share"] == 0 || kinds["ugcPost"] == 0 || marked == 0 || engaged < 2*PageSize*3/4 || imageOnly == 0 {
		t.Errorf("kinds %v, %d with markup, %d engaged, %d without text", kinds, marked, engaged, imageOnly)
	}
}

func TestFetchSunsetVersion(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	e.clock.Set(time.Date(2027, 7, 16, 0, 0, 0, 0, time.UTC)) // 202607 is sunset
	tok := e.token(0)
	f, err := e.conn.Fetch(t.Context(), tok, platforms.Request{})
	pe := platformError(t, err, platforms.Permanent, tok.AccessToken)
	if pe.Status != http.StatusUpgradeRequired || f.Calls != 1 || !strings.Contains(err.Error(), "NONEXISTENT_VERSION") ||
		!strings.Contains(err.Error(), "LinkedIn-Version "+APIVersion) {
		t.Errorf("error %v (status %d), %d calls", err, pe.Status, f.Calls)
	}
}

func TestFetchCursorLeavesOlderPostsOut(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	acct := e.account(1)
	now := e.clock.Now()
	posts, _ := e.sim.Posts(topics.LinkedIn, acct.ID, now, 4)
	cursor := strconv.FormatInt(posts[2].CreatedAt.UnixMilli(), 10)
	f, err := e.conn.Fetch(t.Context(), e.token(1), platforms.Request{Cursor: cursor})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.PostBodies) != 1 || f.NextCursor != strconv.FormatInt(posts[0].CreatedAt.UnixMilli(), 10) {
		t.Errorf("%d pages, cursor %q", len(f.PostBodies), f.NextCursor)
	}
	got, err := e.conn.ParsePosts(f.PostBodies[0])
	if err != nil || len(got) != 3 || got[2].ID != posts[2].ID {
		t.Fatalf("posts %+v, %v; want the 3 newest (the cursor's included)", got, err)
	}
	// Only the kept posts were asked statistics for.
	var env postsEnvelope
	json.Unmarshal(f.PostBodies[0], &env)
	var stats statisticsBody
	if err := json.Unmarshal(env.Statistics, &stats); err != nil || len(stats.Elements) != 3 {
		t.Errorf("statistics %s: %v", env.Statistics, err)
	}
}

// stub is a LinkedIn REST API answering from a table of paths, recording
// the requests it gets.
type stub struct {
	mu     sync.Mutex
	routes map[string]func(w http.ResponseWriter, r *http.Request)
	reqs   []*http.Request
}

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	h := s.routes[r.URL.EscapedPath()]
	s.mu.Unlock()
	if h == nil {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"status":404,"code":"NOT_FOUND","message":"Not Found"}`)
		return
	}
	h(w, r)
}

// requests returns the requests received so far.
func (s *stub) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.reqs...)
}

func reply(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

const stubACLs = `{"paging":{"start":0,"count":10,"links":[]},"elements":[` +
	`{"roleAssignee":"urn:li:person:a1","state":"REQUESTED","role":"ADMINISTRATOR","organization":"urn:li:organization:5"},` +
	`{"roleAssignee":"urn:li:person:a1","state":"APPROVED","role":"ADMINISTRATOR","organization":"urn:li:organization:1337"}]}`

func stubConn(t *testing.T, s *stub) *Connector {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	c, err := newTest(platforms.Config{BaseURL: ts.URL, HTTPClient: ts.Client(), MaxPostPages: 3}, func() time.Time { return simStart })
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Connector)
}

func TestFetchRequests(t *testing.T) {
	s := &stub{routes: map[string]func(http.ResponseWriter, *http.Request){
		"/rest/organizationAcls":                            reply(200, stubACLs),
		"/rest/organizations/1337":                          reply(200, `{"id":1337,"vanityName":"linkedin"}`),
		"/rest/networkSizes/urn%3Ali%3Aorganization%3A1337": reply(200, `{"firstDegreeSize":12}`),
		"/rest/posts":                                       reply(200, `{"paging":{"start":0,"count":50,"links":[]},"elements":[{"id":"urn:li:share:11","createdAt":2000},{"id":"urn:li:ugcPost:10","createdAt":1000},{"id":"urn:li:instantRepost:9","createdAt":900}]}`),
		"/rest/organizationalEntityShareStatistics":         reply(200, `{"elements":[]}`),
	}}
	c := stubConn(t, s)
	f, err := c.Fetch(t.Context(), &oauth2.Token{AccessToken: "secret-token-0123"}, platforms.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if f.AccountID != "1337" || f.Calls != 5 || len(f.PostBodies) != 1 || f.NextCursor != "2000" {
		t.Errorf("fetch %+v", f)
	}
	a, err := c.ParseAccount(f.AccountBody)
	if err != nil || a != (platforms.Account{ID: "1337", Handle: "linkedin", Followers: 12}) {
		t.Errorf("account %+v, %v", a, err)
	}
	reqs := s.requests()
	for _, r := range reqs {
		if r.Header.Get("Authorization") != "Bearer secret-token-0123" || r.Header.Get("LinkedIn-Version") != APIVersion ||
			r.Header.Get("X-Restli-Protocol-Version") != "2.0.0" {
			t.Errorf("%s: headers %v", r.URL, r.Header)
		}
	}
	wantQueries := []string{
		"q=roleAssignee&role=ADMINISTRATOR&state=APPROVED",
		"",
		"edgeType=COMPANY_FOLLOWED_BY_MEMBER",
		"q=author&author=urn%3Ali%3Aorganization%3A1337&sortBy=CREATED&count=50&start=0",
		// Rest.li 2.0: List(...) literal, its URNs percent-encoded; a
		// post kind without statistics (instantRepost) is left out.
		"q=organizationalEntity&organizationalEntity=urn%3Ali%3Aorganization%3A1337" +
			"&shares=List(urn%3Ali%3Ashare%3A11)&ugcPosts=List(urn%3Ali%3AugcPost%3A10)",
	}
	if len(reqs) != len(wantQueries) {
		t.Fatalf("%d requests, want %d", len(reqs), len(wantQueries))
	}
	for i, r := range reqs {
		if r.URL.RawQuery != wantQueries[i] {
			t.Errorf("request %d: %s?%s, want query %s", i, r.URL.Path, r.URL.RawQuery, wantQueries[i])
		}
	}
}

func TestFetchFailures(t *testing.T) {
	ok := reply(200, `{"id":1337}`)
	for _, tc := range []struct {
		name   string
		routes map[string]func(http.ResponseWriter, *http.Request)
		class  platforms.Class
		calls  int
		msg    string
	}{
		{
			name:   "no administered page",
			routes: map[string]func(http.ResponseWriter, *http.Request){"/rest/organizationAcls": reply(200, `{"elements":[{"state":"REQUESTED","role":"ADMINISTRATOR","organization":"urn:li:organization:5"}]}`)},
			class:  platforms.Permission, calls: 1, msg: "administers no LinkedIn page",
		},
		{
			name:   "access denied",
			routes: map[string]func(http.ResponseWriter, *http.Request){"/rest/organizationAcls": reply(403, `{"status":403,"serviceErrorCode":100,"code":"ACCESS_DENIED","message":"Not enough permissions to access: organizationAcls.FINDER-roleAssignee"}`)},
			class:  platforms.Permission, calls: 1, msg: "ACCESS_DENIED: Not enough permissions",
		},
		{
			name:   "revoked token echoed",
			routes: map[string]func(http.ResponseWriter, *http.Request){"/rest/organizationAcls": reply(401, `{"status":401,"serviceErrorCode":65601,"code":"REVOKED_ACCESS_TOKEN","message":"The token secret-token-0123 has been revoked"}`)},
			class:  platforms.Reauth, calls: 1, msg: "The token [REDACTED] has been revoked (serviceErrorCode 65601)",
		},
		{
			name: "another organization",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"/rest/organizationAcls": reply(200, stubACLs), "/rest/organizations/1337": reply(200, `{"id":7}`)},
			class: platforms.Permanent, calls: 2, msg: `asked for organization 1337, got "7"`,
		},
		{
			name: "no follower count",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"/rest/organizationAcls": reply(200, stubACLs), "/rest/organizations/1337": ok,
				"/rest/networkSizes/urn%3Ali%3Aorganization%3A1337": reply(200, `{}`)},
			class: platforms.Permanent, calls: 3, msg: "no firstDegreeSize",
		},
		{
			name: "gateway error retried",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"/rest/organizationAcls": reply(502, `<html>Bad Gateway</html>`)},
			class: platforms.Transient, calls: maxAttempts, msg: "(http 502): Bad Gateway",
		},
		{
			name: "not found",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"/rest/organizationAcls": reply(200, stubACLs)},
			class: platforms.Permanent, calls: 2, msg: "NOT_FOUND: Not Found",
		},
		{
			name: "post without id",
			routes: map[string]func(http.ResponseWriter, *http.Request){
				"/rest/organizationAcls": reply(200, stubACLs), "/rest/organizations/1337": ok,
				"/rest/networkSizes/urn%3Ali%3Aorganization%3A1337": reply(200, `{"firstDegreeSize":1}`),
				"/rest/posts": reply(200, `{"elements":[{"commentary":"?"}]}`)},
			class: platforms.Permanent, calls: 4, msg: "page at 0: post 0: no id",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := stubConn(t, &stub{routes: tc.routes})
			f, err := c.Fetch(t.Context(), &oauth2.Token{AccessToken: "secret-token-0123"}, platforms.Request{})
			platformError(t, err, tc.class, "secret-token-0123")
			if f == nil || f.Calls != tc.calls || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("fetch %+v, error %q; want %d calls and %q", f, err, tc.calls, tc.msg)
			}
		})
	}
}

func TestFetchStopsPagingAtTotal(t *testing.T) {
	full := make([]string, PageSize)
	for i := range full {
		full[i] = `{"id":"urn:li:share:` + strconv.Itoa(1000-i) + `","createdAt":` + strconv.Itoa(100000-i) + `}`
	}
	var (
		mu     sync.Mutex
		starts []string
	)
	s := &stub{routes: map[string]func(http.ResponseWriter, *http.Request){
		"/rest/organizationAcls":                            reply(200, stubACLs),
		"/rest/organizations/1337":                          reply(200, `{"id":1337}`),
		"/rest/networkSizes/urn%3Ali%3Aorganization%3A1337": reply(200, `{"firstDegreeSize":1}`),
		"/rest/organizationalEntityShareStatistics":         reply(200, `{"elements":[]}`),
		"/rest/posts": func(w http.ResponseWriter, r *http.Request) {
			start := r.URL.Query().Get("start")
			mu.Lock()
			starts = append(starts, start)
			mu.Unlock()
			reply(200, `{"paging":{"start":`+start+`,"count":50,"total":100},"elements":[`+strings.Join(full, ",")+`]}`)(w, r)
		},
	}}
	f, err := stubConn(t, s).Fetch(t.Context(), &oauth2.Token{AccessToken: "t"}, platforms.Request{})
	mu.Lock()
	defer mu.Unlock()
	if err != nil || len(f.PostBodies) != 2 || strings.Join(starts, ",") != "0,50" {
		t.Errorf("pages at %v, %v", starts, err)
	}
}

func TestNextReset(t *testing.T) {
	for in, want := range map[string]string{
		"2026-11-25T10:00:00Z":      "2026-11-26T00:00:00Z",
		"2026-11-25T00:00:00Z":      "2026-11-26T00:00:00Z",
		"2026-12-31T23:59:59Z":      "2027-01-01T00:00:00Z",
		"2026-11-25T22:30:00-05:00": "2026-11-27T00:00:00Z", // 03:30 UTC on the 26th
	} {
		tm, _ := time.Parse(time.RFC3339, in)
		if got := NextReset(tm).Format(time.RFC3339); got != want {
			t.Errorf("NextReset(%s) = %s, want %s", in, got, want)
		}
	}
}
