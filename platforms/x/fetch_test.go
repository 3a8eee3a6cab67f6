package x

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

// allPosts parses every page of f.
func allPosts(t *testing.T, c *Connector, f *platforms.Fetch) []platforms.PostData {
	t.Helper()
	var out []platforms.PostData
	for i, b := range f.PostBodies {
		posts, err := c.ParsePosts(b)
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		out = append(out, posts...)
	}
	return out
}

func TestFetchMatchesSimulator(t *testing.T) {
	e := newEnv(t, sim.Config{}, func(c *platforms.Config) { c.MaxPostPages = 2 })
	e.clock.Advance(37 * time.Minute) // any instant: the sim's values are pure
	tok := e.token(4)
	id := e.account(4)

	f, err := e.conn.Fetch(ctx(t), tok, platforms.Request{})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	now := e.clock.Now()
	acc, err := e.conn.ParseAccount(f.AccountBody)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := e.sim.Metrics(topics.X, id, now)
	simAcc := e.sim.Accounts(topics.X)[4]
	want := platforms.Account{ID: id, Handle: simAcc.Handle, Followers: m.Followers, Following: m.Following, PostsCount: m.Posts}
	if acc != want {
		t.Errorf("account %+v, want %+v", acc, want)
	}
	if followers, _ := e.sim.Followers(topics.X, id, now); acc.Followers != followers {
		t.Errorf("followers %d, want %d", acc.Followers, followers)
	}
	if f.AccountID != id {
		t.Errorf("AccountID %s", f.AccountID)
	}

	// Two full pages (MaxPostPages), newest first, as the simulator has them.
	if len(f.PostBodies) != 2 || f.Calls != 3 {
		t.Fatalf("%d pages in %d calls, want 2 in 3", len(f.PostBodies), f.Calls)
	}
	posts := allPosts(t, e.conn, f)
	simPosts, _ := e.sim.Posts(topics.X, id, now, 200)
	if len(posts) != 200 {
		t.Fatalf("%d posts, want 200", len(posts))
	}
	for i, p := range posts {
		s := simPosts[i]
		want := platforms.PostData{
			ID: s.ID, CreatedAt: s.CreatedAt, Text: s.Text, Permalink: "https://x.com/i/web/status/" + s.ID,
			Likes: s.Likes, Comments: s.Replies, Shares: s.Reposts + s.Quotes, Views: s.Impressions,
		}
		if p != want {
			t.Fatalf("post %d = %+v, want %+v", i, p, want)
		}
	}
	if f.NextCursor != simPosts[0].ID {
		t.Errorf("NextCursor %s, want the newest id %s", f.NextCursor, simPosts[0].ID)
	}

	// The rate-limit headers of the last call (a timeline page).
	wantLimit := platforms.RateLimit{Remaining: 898, Limit: 900, Reset: now.Add(15 * time.Minute), UsagePct: -1}
	if f.Limit.Remaining != wantLimit.Remaining || f.Limit.Limit != wantLimit.Limit || !f.Limit.Reset.Equal(wantLimit.Reset) || f.Limit.UsagePct != -1 {
		t.Errorf("Limit %+v, want %+v", f.Limit, wantLimit)
	}
}

func TestFetchDefaultPagesAndSinceCursor(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)
	id := e.account(0)
	simPosts, _ := e.sim.Posts(topics.X, id, simStart, 0)

	f, err := e.conn.Fetch(ctx(t), e.token(0), platforms.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.PostBodies) != DefaultMaxPostPages || len(allPosts(t, e.conn, f)) != 500 || f.Calls != 1+DefaultMaxPostPages {
		t.Errorf("default fetch: %d pages, %d calls", len(f.PostBodies), f.Calls)
	}

	// Since a cursor: exactly the newer posts, over two pages.
	cursor := simPosts[150].ID
	f, err = e.conn.Fetch(ctx(t), e.token(0), platforms.Request{Cursor: cursor})
	if err != nil {
		t.Fatal(err)
	}
	posts := allPosts(t, e.conn, f)
	if len(f.PostBodies) != 2 || len(posts) != 150 || posts[0].ID != simPosts[0].ID || posts[149].ID != simPosts[149].ID {
		t.Fatalf("since %s: %d pages, %d posts", cursor, len(f.PostBodies), len(posts))
	}
	if f.NextCursor != simPosts[0].ID {
		t.Errorf("NextCursor %s, want %s", f.NextCursor, simPosts[0].ID)
	}

	// Nothing new: the cursor stays.
	cursor = f.NextCursor
	f, err = e.conn.Fetch(ctx(t), e.token(0), platforms.Request{Cursor: cursor})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(allPosts(t, e.conn, f)); n != 0 || f.NextCursor != cursor || len(f.PostBodies) != 1 {
		t.Errorf("no new posts: %d posts, cursor %s, %d bodies", n, f.NextCursor, len(f.PostBodies))
	}

	// A day later, the day's posts.
	e.clock.Advance(24 * time.Hour)
	later, _ := e.sim.Posts(topics.X, id, e.clock.Now(), 0)
	f, err = e.conn.Fetch(ctx(t), e.token(0), platforms.Request{Cursor: cursor})
	if err != nil {
		t.Fatal(err)
	}
	posts = allPosts(t, e.conn, f)
	if len(posts) == 0 || posts[len(posts)-1].ID != later[len(posts)-1].ID || later[len(posts)].ID != cursor {
		t.Errorf("after a day: %d posts", len(posts))
	}
	if f.NextCursor != later[0].ID {
		t.Errorf("NextCursor %s, want %s", f.NextCursor, later[0].ID)
	}

	_, err = e.conn.Fetch(ctx(t), e.token(0), platforms.Request{Cursor: "not-an-id"})
	platformError(t, err, platforms.Permanent)
}

func TestFetchThrottled(t *testing.T) {
	e := newEnv(t, sim.Config{X: sim.XConfig{UsersMe: sim.Limit{Requests: 1}}}, nil)
	tok := e.token(0)
	if _, err := e.conn.Fetch(ctx(t), tok, platforms.Request{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	f, err := e.conn.Fetch(ctx(t), tok, platforms.Request{})
	pe := platformError(t, err, platforms.Throttled, tok.AccessToken)
	wantReset := simStart.Add(15 * time.Minute)
	if !pe.RetryAfter.Equal(wantReset) || pe.Status != http.StatusTooManyRequests || pe.Limit.Remaining != 0 || pe.Limit.Limit != 1 {
		t.Errorf("throttled: %+v", pe)
	}
	if f == nil || f.Calls != 1 || f.Limit.Remaining != 0 {
		t.Errorf("partial fetch %+v", f)
	}

	// An injected 429 on a timeline page.
	e2 := newEnv(t, sim.Config{}, nil)
	if err := e2.sim.SetFaults(topics.X, sim.Faults{RateLimit: sim.Fault{Probability: 1}}); err != nil {
		t.Fatal(err)
	}
	_, err = e2.conn.Fetch(ctx(t), e2.token(0), platforms.Request{})
	pe = platformError(t, err, platforms.Throttled)
	if pe.RetryAfter.IsZero() || pe.Op != opAccount {
		t.Errorf("injected 429: %+v", pe)
	}
}

// stub serves status and body for every request, counting them.
func stub(t *testing.T, status int, header map[string]string, body string) (*Connector, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		// Echo the credentials, as a careless gateway might.
		fmt.Fprint(w, strings.ReplaceAll(body, "$AUTH", r.Header.Get("Authorization")))
	}))
	t.Cleanup(ts.Close)
	c, err := New(platforms.Config{BaseURL: ts.URL, HTTPClient: ts.Client()})
	if err != nil {
		t.Fatal(err)
	}
	conn := c.(*Connector)
	conn.backoff = time.Millisecond
	conn.now = func() time.Time { return simStart }
	return conn, &n
}

func TestFetchErrorClasses(t *testing.T) {
	const secret = "access-token-that-must-not-leak"
	for _, c := range []struct {
		status int
		header map[string]string
		body   string
		class  platforms.Class
		calls  int32
		code   int
	}{
		{429, nil, `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`, platforms.Throttled, 1, 88},
		{429, map[string]string{"x-rate-limit-reset": "1900000000", "x-rate-limit-remaining": "0", "x-rate-limit-limit": "75"},
			`{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}`, platforms.Throttled, 1, 0},
		{401, nil, `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`, platforms.Reauth, 1, 0},
		{403, nil, `{"title":"Forbidden","detail":"token $AUTH lacks scope","type":"about:blank","status":403}`, platforms.Permission, 1, 0},
		{400, nil, `{"title":"Invalid Request","detail":"One or more parameters to your request was invalid."}`, platforms.Permanent, 1, 0},
		{404, nil, `not json`, platforms.Permanent, 1, 0},
		{500, nil, `{"title":"Internal Error","detail":"echo $AUTH"}`, platforms.Transient, 3, 0},
		{502, nil, `<html>Bad Gateway</html>`, platforms.Transient, 3, 0},
		{200, nil, `{"data":{"id":"1","name":"$AUTH"`, platforms.Transient, 3, 0},
		{200, nil, `[]`, platforms.Transient, 3, 0},
		{200, nil, `{"errors":[{"title":"Not Found Error","detail":"Could not find user"}]}`, platforms.Permanent, 1, 0},
	} {
		t.Run(fmt.Sprintf("%d %.20s", c.status, c.body), func(t *testing.T) {
			conn, n := stub(t, c.status, c.header, c.body)
			f, err := conn.Fetch(ctx(t), &oauth2.Token{AccessToken: secret}, platforms.Request{})
			pe := platformError(t, err, c.class, secret)
			if n.Load() != c.calls || int32(f.Calls) != c.calls {
				t.Errorf("%d requests, %d counted, want %d", n.Load(), f.Calls, c.calls)
			}
			if pe.Status != c.status || pe.Code != c.code || pe.Op != opAccount {
				t.Errorf("error %+v", pe)
			}
			if c.class == platforms.Throttled {
				want := simStart.Add(15 * time.Minute)
				if c.header != nil {
					want = time.Unix(1900000000, 0)
				}
				if !pe.RetryAfter.Equal(want) {
					t.Errorf("RetryAfter %v, want %v", pe.RetryAfter, want)
				}
			}
		})
	}
}

func TestFetchReauth(t *testing.T) {
	e := newEnv(t, sim.Config{}, nil)

	tok := e.token(0)
	e.sim.Revoke(tok.AccessToken)
	f, err := e.conn.Fetch(ctx(t), tok, platforms.Request{})
	pe := platformError(t, err, platforms.Reauth, tok.AccessToken, tok.RefreshToken)
	if pe.Status != http.StatusUnauthorized || f.Calls != 1 {
		t.Errorf("revoked: %+v, %d calls", pe, f.Calls)
	}

	tok = e.token(1)
	e.clock.Advance(sim.AccessTTL)
	_, err = e.conn.Fetch(ctx(t), tok, platforms.Request{})
	platformError(t, err, platforms.Reauth, tok.AccessToken)

	tok = e.token(2)
	e.sim.SetFaults(topics.X, sim.Faults{Revoke: sim.Fault{Next: 1}})
	_, err = e.conn.Fetch(ctx(t), tok, platforms.Request{})
	platformError(t, err, platforms.Reauth, tok.AccessToken)

	f, err = e.conn.Fetch(ctx(t), nil, platforms.Request{})
	platformError(t, err, platforms.Reauth)
	if f == nil || f.Calls != 0 {
		t.Errorf("no token: %+v", f)
	}
}

func TestFetchRetriesTransient(t *testing.T) {
	e := newEnv(t, sim.Config{}, func(c *platforms.Config) { c.MaxPostPages = 1 })

	// One 503, then success.
	e.sim.SetFaults(topics.X, sim.Faults{ServerError: sim.Fault{Next: 1}})
	f, err := e.conn.Fetch(ctx(t), e.token(0), platforms.Request{})
	if err != nil {
		t.Fatalf("Fetch after one 503: %v", err)
	}
	if f.Calls != 3 || len(f.PostBodies) != 1 {
		t.Errorf("%d calls, %d pages; want 3 and 1", f.Calls, len(f.PostBodies))
	}

	// A truncated body, then success.
	e.sim.SetFaults(topics.X, sim.Faults{Truncate: sim.Fault{Next: 1}})
	if f, err = e.conn.Fetch(ctx(t), e.token(0), platforms.Request{}); err != nil || f.Calls != 3 {
		t.Errorf("truncated once: %v, %d calls", err, f.Calls)
	}

	// 503 every time: Transient after 3 attempts.
	tok := e.token(0)
	e.sim.SetFaults(topics.X, sim.Faults{ServerError: sim.Fault{Probability: 1}})
	f, err = e.conn.Fetch(ctx(t), tok, platforms.Request{})
	pe := platformError(t, err, platforms.Transient, tok.AccessToken)
	if f.Calls != 3 || pe.Status != http.StatusServiceUnavailable || pe.Limit.Limit != 75 {
		t.Errorf("always 503: %d calls, %+v", f.Calls, pe)
	}

	// Malformed JSON every time: Transient after 3 attempts.
	e.sim.SetFaults(topics.X, sim.Faults{Malformed: sim.Fault{Probability: 1}})
	f, err = e.conn.Fetch(ctx(t), tok, platforms.Request{})
	pe = platformError(t, err, platforms.Transient, tok.AccessToken)
	if f.Calls != 3 || !strings.Contains(pe.Error(), "malformed") {
		t.Errorf("malformed: %d calls, %v", f.Calls, pe)
	}

	// On a timeline page, after the account succeeded.
	e.sim.SetFaults(topics.X, sim.Faults{})
	e.sim.ResetStats()
	if _, err := e.conn.Fetch(ctx(t), tok, platforms.Request{}); err != nil {
		t.Fatal(err)
	}
	if st := e.sim.Stats().Platforms[topics.X]; st.Requests != 2 {
		t.Errorf("simulator saw %d requests, want 2", st.Requests)
	}
}

func TestFetchBackoffHonoursContext(t *testing.T) {
	conn, n := stub(t, http.StatusServiceUnavailable, nil, `{}`)
	conn.backoff = time.Hour
	c, cancel := context.WithTimeout(ctx(t), 50*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := conn.Fetch(c, &oauth2.Token{AccessToken: "tok-value-12345"}, platforms.Request{})
	platformError(t, err, platforms.Transient, "tok-value-12345")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap the context's", err)
	}
	if d := time.Since(t0); d > 10*time.Second || n.Load() != 1 {
		t.Errorf("returned after %v and %d calls", d, n.Load())
	}
}

func TestNewerID(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{{"10", "9", true}, {"9", "10", false}, {"1", "", true}, {"5", "5", false}, {"1999", "1998", true}} {
		if got := newerID(c.a, c.b); got != c.want {
			t.Errorf("newerID(%q, %q) = %v", c.a, c.b, got)
		}
	}
	for s, want := range map[string]bool{"1": true, "0": true, "01": false, "": false, "12a": false, strconv.Itoa(1 << 62): true, "12345678901234567890": false} {
		if isID(s) != want {
			t.Errorf("isID(%q) = %v", s, !want)
		}
	}
}

// TestFetchReportsUsage: over HTTP against the simulator, a fetch reports
// each endpoint's x-rate-limit-* headers as that user's limit, named as the
// scheduler's scopes are.
func TestFetchReportsUsage(t *testing.T) {
	e := newEnv(t, sim.Config{X: sim.XConfig{UsersMe: sim.Limit{Requests: 5, Window: 15 * time.Minute}}},
		func(c *platforms.Config) { c.MaxPostPages = 2 })
	tok := e.token(0)
	start := e.clock.Now()
	for i := range 2 {
		f, err := e.conn.Fetch(ctx(t), tok, platforms.Request{})
		if err != nil {
			t.Fatal(err)
		}
		want := []platforms.Usage{
			{Scope: topics.LimitScopeAccount, Name: "users/me", UsedPct: -1, Remaining: 4 - i, Limit: 5, Reset: start.Add(15 * time.Minute)},
			{Scope: topics.LimitScopeAccount, Name: "users/:id/tweets", UsedPct: -1, Remaining: sim.DefaultXUserTweetsLimit - 2*(i+1),
				Limit: sim.DefaultXUserTweetsLimit, Reset: start.Add(15 * time.Minute)},
		}
		same := func(a, b platforms.Usage) bool {
			ok := a.Reset.Equal(b.Reset)
			a.Reset, b.Reset = time.Time{}, time.Time{}
			return ok && a == b
		}
		if len(f.Usage) != 2 || !same(f.Usage[0], want[0]) || !same(f.Usage[1], want[1]) {
			t.Errorf("fetch %d: usage %+v, want %+v", i, f.Usage, want)
		}
		e.clock.Advance(time.Second)
	}
}

// TestSkipPostsAndPostsRead: X meters reads by the post, so a fetch counts
// the posts it read, and one that skips its posts calls users/me alone.
func TestSkipPostsAndPostsRead(t *testing.T) {
	e := newEnv(t, sim.Config{}, func(c *platforms.Config) { c.MaxPostPages = 2 })
	tok := e.token(1)
	f, err := e.conn.Fetch(ctx(t), tok, platforms.Request{SkipPosts: true})
	if err != nil || f.Calls != 1 || len(f.PostBodies) != 0 || f.PostsRead != 0 || len(f.AccountBody) == 0 {
		t.Fatalf("skipping posts: %+v, %v", f, err)
	}
	f, err = e.conn.Fetch(ctx(t), tok, platforms.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(allPosts(t, e.conn, f)); f.PostsRead != n || n == 0 {
		t.Fatalf("PostsRead %d, %d posts parsed", f.PostsRead, n)
	}
}
