package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pulsehq/pulse/topics"
)

type tweetsPage struct {
	Data []struct {
		ID            string           `json:"id"`
		Text          string           `json:"text"`
		EditHistory   []string         `json:"edit_history_tweet_ids"`
		CreatedAt     string           `json:"created_at"`
		PublicMetrics map[string]int64 `json:"public_metrics"`
	} `json:"data"`
	Includes map[string][]map[string]any `json:"includes"`
	Meta     struct {
		ResultCount int    `json:"result_count"`
		NewestID    string `json:"newest_id"`
		OldestID    string `json:"oldest_id"`
		NextToken   string `json:"next_token"`
	} `json:"meta"`
}

func TestUsersMe(t *testing.T) {
	e := newEnv(t, Config{})
	access, _, id := e.token(3)
	status, h, body := e.get("/2/users/me?user.fields=public_metrics,created_at,verified", access)
	if status != http.StatusOK || h.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("status %d, type %q: %s", status, h.Get("Content-Type"), body)
	}
	m, _ := e.srv.Metrics(topics.X, id, start)
	acc := e.srv.Accounts(topics.X)[3]
	want := fmt.Sprintf(`{"data":{"id":%q,"name":%q,"username":%q,"created_at":%q,"verified":false,`+
		`"public_metrics":{"followers_count":%d,"following_count":%d,"tweet_count":%d,"listed_count":%d,"like_count":%d,"media_count":%d}}}`,
		id, acc.Name, acc.Handle, acc.CreatedAt.Format("2006-01-02T15:04:05.000Z"),
		m.Followers, m.Following, m.Posts, m.Listed, m.Likes, m.Posts/5)
	if string(body) != want {
		t.Errorf("body\n%s\nwant\n%s", body, want)
	}
	// Without user.fields: the default fields only.
	_, _, body = e.get("/2/users/me", access)
	if want := fmt.Sprintf(`{"data":{"id":%q,"name":%q,"username":%q}}`, id, acc.Name, acc.Handle); string(body) != want {
		t.Errorf("default fields: %s, want %s", body, want)
	}
}

func TestUserTweetsShapeAndPaging(t *testing.T) {
	e := newEnv(t, Config{})
	access, _, id := e.token(0)
	want, _ := e.srv.Posts(topics.X, id, start, 250)

	path := "/2/users/" + id + "/tweets?tweet.fields=public_metrics,created_at&max_results=100"
	var got []string
	token := ""
	for page := 0; ; page++ {
		p := path
		if token != "" {
			p += "&pagination_token=" + token
		}
		status, _, body := e.get(p, access)
		if status != http.StatusOK {
			t.Fatalf("page %d: %d %s", page, status, body)
		}
		pg := decode[tweetsPage](t, body)
		if pg.Meta.ResultCount != len(pg.Data) || pg.Meta.NewestID != pg.Data[0].ID || pg.Meta.OldestID != pg.Data[len(pg.Data)-1].ID {
			t.Errorf("page %d meta %+v", page, pg.Meta)
		}
		for _, d := range pg.Data {
			got = append(got, d.ID)
			if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(d.CreatedAt) {
				t.Errorf("created_at %q", d.CreatedAt)
			}
			if len(d.EditHistory) != 1 || d.EditHistory[0] != d.ID {
				t.Errorf("edit_history_tweet_ids %v", d.EditHistory)
			}
			for _, k := range []string{"retweet_count", "reply_count", "like_count", "quote_count", "bookmark_count", "impression_count"} {
				if v, ok := d.PublicMetrics[k]; !ok || v < 0 {
					t.Errorf("public_metrics.%s = %d, %v", k, v, ok)
				}
			}
		}
		if len(got) >= 250 {
			break
		}
		if token = pg.Meta.NextToken; token == "" {
			t.Fatal("no next_token before the end")
		}
	}
	for i := range 250 {
		if got[i] != want[i].ID {
			t.Fatalf("post %d = %s, want %s", i, got[i], want[i].ID)
		}
	}

	// The first post's counters are the model's.
	_, _, body := e.get(path, access)
	pg := decode[tweetsPage](t, body)
	first := pg.Data[0]
	wantMetrics := map[string]int64{
		"retweet_count": want[0].Reposts, "reply_count": want[0].Replies, "like_count": want[0].Likes,
		"quote_count": want[0].Quotes, "bookmark_count": want[0].Bookmarks, "impression_count": want[0].Impressions,
	}
	for k, v := range wantMetrics {
		if first.PublicMetrics[k] != v {
			t.Errorf("%s = %d, want %d", k, first.PublicMetrics[k], v)
		}
	}
	if first.Text != want[0].Text || first.CreatedAt != want[0].CreatedAt.Format(xTimeFormat) {
		t.Errorf("first post %+v, want %+v", first, want[0])
	}
}

func TestUserTweetsDefaultsAndSince(t *testing.T) {
	e := newEnv(t, Config{})
	access, _, id := e.token(1)
	want, _ := e.srv.Posts(topics.X, id, start, 30)

	_, _, body := e.get("/2/users/"+id+"/tweets", access)
	pg := decode[tweetsPage](t, body)
	if len(pg.Data) != 10 || pg.Data[0].CreatedAt != "" || pg.Data[0].PublicMetrics != nil {
		t.Errorf("default page: %d posts, first %+v", len(pg.Data), pg.Data[0])
	}

	// since_id: only newer posts, no next_token at the end.
	_, _, body = e.get("/2/users/"+id+"/tweets?max_results=5&since_id="+want[7].ID, access)
	pg = decode[tweetsPage](t, body)
	if len(pg.Data) != 5 || pg.Data[0].ID != want[0].ID || pg.Meta.NextToken == "" {
		t.Fatalf("since page 1: %+v", pg)
	}
	_, _, body = e.get("/2/users/"+id+"/tweets?max_results=5&since_id="+want[7].ID+"&pagination_token="+pg.Meta.NextToken, access)
	pg = decode[tweetsPage](t, body)
	if len(pg.Data) != 2 || pg.Data[1].ID != want[6].ID || pg.Meta.NextToken != "" {
		t.Fatalf("since page 2: %+v", pg)
	}

	// until_id: only older posts.
	_, _, body = e.get("/2/users/"+id+"/tweets?max_results=5&until_id="+want[3].ID, access)
	pg = decode[tweetsPage](t, body)
	if pg.Data[0].ID != want[4].ID {
		t.Errorf("until_id: first %s, want %s", pg.Data[0].ID, want[4].ID)
	}

	// Nothing newer: X's empty answer.
	_, _, body = e.get("/2/users/"+id+"/tweets?since_id="+want[0].ID, access)
	if string(body) != `{"meta":{"result_count":0}}` {
		t.Errorf("empty page: %s", body)
	}

	// New posts appear as the clock moves.
	e.clock.Advance(day)
	access, _, _ = e.token(1) // the old one expired
	_, _, body = e.get("/2/users/"+id+"/tweets?max_results=100&since_id="+want[0].ID, access)
	later, _ := e.srv.Posts(topics.X, id, start.Add(day), 0)
	n := 0
	for n < len(later) && later[n].ID != want[0].ID {
		n++
	}
	if pg = decode[tweetsPage](t, body); len(pg.Data) != n || n == 0 {
		t.Errorf("%d new posts after a day, want %d (> 0)", len(pg.Data), n)
	}
}

func TestUserTweetsRejects(t *testing.T) {
	e := newEnv(t, Config{})
	access, _, id := e.token(0)
	other := e.srv.Accounts(topics.X)[1].ID
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/2/users/" + other + "/tweets", http.StatusForbidden},
		{"/2/users/abc/tweets", http.StatusBadRequest},
		{"/2/users/" + id + "/tweets?max_results=4", http.StatusBadRequest},
		{"/2/users/" + id + "/tweets?max_results=101", http.StatusBadRequest},
		{"/2/users/" + id + "/tweets?since_id=x1", http.StatusBadRequest},
		{"/2/users/" + id + "/tweets?pagination_token=zzzzzzzzzzzzzzzzzzzz", http.StatusBadRequest},
		{"/2/users/" + id + "/tweets?pagination_token=abc", http.StatusBadRequest},
	} {
		status, _, body := e.get(c.path, access)
		if status != c.status {
			t.Errorf("%s: %d %s, want %d", c.path, status, body, c.status)
		}
		if status == http.StatusForbidden {
			if p := decode[map[string]any](t, body); p["title"] != "Forbidden" || p["status"] != 403.0 {
				t.Errorf("403 body %s", body)
			}
		}
		if status == http.StatusBadRequest {
			if p := decode[map[string]any](t, body); p["title"] != "Invalid Request" || p["errors"] == nil {
				t.Errorf("400 body %s", body)
			}
		}
	}
	if status, _, _ := e.get("/2/users/"+id+"/tweets", ""); status != http.StatusUnauthorized {
		t.Errorf("no token: %d", status)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, Config{X: XConfig{UsersMe: Limit{Requests: 2}, UserTweets: Limit{Requests: -1}}})
	access, _, id := e.token(0)
	reset := strconv.FormatInt(start.Add(DefaultWindow).Unix(), 10)
	for i, wantRemaining := range []string{"1", "0"} {
		status, h, _ := e.get("/2/users/me", access)
		if status != http.StatusOK || h.Get("X-Rate-Limit-Limit") != "2" || h.Get("X-Rate-Limit-Remaining") != wantRemaining || h.Get("X-Rate-Limit-Reset") != reset {
			t.Fatalf("call %d: %d %v", i, status, h)
		}
		e.clock.Advance(time.Minute)
	}
	status, h, body := e.get("/2/users/me", access)
	if status != http.StatusTooManyRequests || h.Get("X-Rate-Limit-Remaining") != "0" || h.Get("X-Rate-Limit-Reset") != reset {
		t.Fatalf("over the limit: %d %v", status, h)
	}
	if want := `{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}`; string(body) != want {
		t.Errorf("429 body %s", body)
	}
	// Per user: another account's token has its own window.
	other, _, _ := e.token(1)
	if status, _, _ := e.get("/2/users/me", other); status != http.StatusOK {
		t.Errorf("other user throttled: %d", status)
	}
	// Unlimited endpoints send no headers.
	if status, h, _ := e.get("/2/users/"+id+"/tweets", access); status != http.StatusOK || h.Get("X-Rate-Limit-Limit") != "" {
		t.Errorf("unlimited endpoint: %d %v", status, h)
	}
	e.clock.Advance(DefaultWindow)
	if status, h, _ := e.get("/2/users/me", access); status != http.StatusOK || h.Get("X-Rate-Limit-Remaining") != "1" {
		t.Errorf("after the window: %d %v", status, h)
	}
	st := e.srv.Stats().Platforms[topics.X]
	if st.LimitBreaches != 1 || st.Endpoints[XEndpointUsersMe].LimitBreaches != 1 || st.Accounts[id].LimitBreaches != 1 || st.Apps[IssuedClientID].LimitBreaches != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t, Config{})
	access, _, _ := e.token(0)
	set := func(f Faults) {
		t.Helper()
		if err := e.srv.SetFaults(topics.X, f); err != nil {
			t.Fatal(err)
		}
	}

	set(Faults{ServerError: Fault{Next: 2}})
	for i := range 2 {
		status, h, body := e.get("/2/users/me", access)
		if status != http.StatusServiceUnavailable || h.Get("X-Rate-Limit-Limit") == "" {
			t.Errorf("fault %d: %d %s", i, status, body)
		}
	}
	if status, _, _ := e.get("/2/users/me", access); status != http.StatusOK {
		t.Errorf("after the burst: %d", status)
	}

	set(Faults{RateLimit: Fault{Next: 1}})
	if status, h, _ := e.get("/2/users/me", access); status != http.StatusTooManyRequests || h.Get("X-Rate-Limit-Remaining") != "0" || h.Get("X-Rate-Limit-Reset") == "" {
		t.Errorf("injected 429: %d %v", status, h)
	}

	set(Faults{Truncate: Fault{Next: 1}, Malformed: Fault{Probability: 1}})
	for i := range 2 {
		status, _, body := e.get("/2/users/me", access)
		if status != http.StatusOK || json.Valid(body) {
			t.Errorf("corrupt body %d: %d %s", i, status, body)
		}
	}
	set(Faults{})
	if _, _, body := e.get("/2/users/me", access); !json.Valid(body) {
		t.Errorf("faults cleared, body %s", body)
	}

	set(Faults{Slow: Fault{Next: 1}, SlowDelay: 50 * time.Millisecond})
	t0 := time.Now()
	if status, _, _ := e.get("/2/users/me", access); status != http.StatusOK || time.Since(t0) < 50*time.Millisecond {
		t.Errorf("slow: %d after %v", status, time.Since(t0))
	}

	set(Faults{Revoke: Fault{Next: 1}})
	if status, _, _ := e.get("/2/users/me", access); status != http.StatusUnauthorized {
		t.Errorf("revoke fault: %d", status)
	}
	if status, _, _ := e.get("/2/users/me", access); status != http.StatusUnauthorized {
		t.Errorf("token after revoke fault: %d", status)
	}
	if f := e.srv.Faults(topics.X); f.Revoke.Next != 0 {
		t.Errorf("Next not consumed: %+v", f)
	}
	if st := e.srv.Stats().Platforms[topics.X]; st.Faults != 7 {
		t.Errorf("faults counted %d, want 7", st.Faults)
	}
	if err := e.srv.SetFaults(unsimulated, Faults{}); err == nil {
		t.Error("SetFaults on an unsimulated platform succeeded")
	}
	if err := e.srv.SetFaults(topics.X, Faults{Malformed: Fault{Probability: -0.1}}); err == nil {
		t.Error("SetFaults with a bad probability succeeded")
	}
}

func TestFaultProbabilityIsSeeded(t *testing.T) {
	run := func() []int {
		e := newEnv(t, Config{Seed: 11, X: XConfig{Faults: Faults{ServerError: Fault{Probability: 0.5}}}})
		access, _, _ := e.token(0)
		var out []int
		for range 20 {
			status, _, _ := e.get("/2/users/me", access)
			out = append(out, status)
		}
		return out
	}
	a, b := run(), run()
	fails := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("runs differ at %d: %v vs %v", i, a, b)
		}
		if a[i] != http.StatusOK {
			fails++
		}
	}
	if fails == 0 || fails == len(a) {
		t.Errorf("probability 0.5 gave %d/%d failures", fails, len(a))
	}
}

func TestSlowFaultHonoursCancellation(t *testing.T) {
	e := newEnv(t, Config{X: XConfig{Faults: Faults{Slow: Fault{Probability: 1}, SlowDelay: time.Minute}}})
	access, _, _ := e.token(0)
	c := *e.ts.Client()
	c.Timeout = 50 * time.Millisecond
	req, _ := http.NewRequest(http.MethodGet, e.base+"/2/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	t0 := time.Now()
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("slow request did not time out")
	}
	if time.Since(t0) > 10*time.Second {
		t.Errorf("took %v", time.Since(t0))
	}
}

func TestAdminAPI(t *testing.T) {
	e := newEnv(t, Config{Accounts: 2})

	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/_sim/accounts", nil)
	status, _, body := e.do(req)
	accounts := decode[map[string][]accountView](t, body)
	if status != http.StatusOK || len(accounts["x"]) != 2 {
		t.Fatalf("accounts: %d %s", status, body)
	}
	if f, _ := e.srv.Followers(topics.X, accounts["x"][0].ID, start); accounts["x"][0].Metrics.Followers != f {
		t.Errorf("followers %d, want %d", accounts["x"][0].Metrics.Followers, f)
	}

	status, body = e.postJSON("/_sim/tokens", map[string]string{"platform": "x", "account_id": accounts["x"][1].ID})
	tok := decode[map[string]string](t, body)
	if status != http.StatusOK || tok["access_token"] == "" || tok["refresh_token"] == "" {
		t.Fatalf("tokens: %d %s", status, body)
	}
	if status, _ := e.postJSON("/_sim/tokens", map[string]string{"platform": "x", "account_id": "1"}); status != http.StatusNotFound {
		t.Errorf("token for unknown account: %d", status)
	}

	status, body = e.postJSON("/_sim/faults", map[string]any{"x": map[string]any{"server_error": map[string]any{"next": 1}, "slow_delay": "10ms"}})
	if status != http.StatusOK {
		t.Fatalf("set faults: %d %s", status, body)
	}
	if f := e.srv.Faults(topics.X); f.ServerError.Next != 1 || f.SlowDelay != 10*time.Millisecond {
		t.Errorf("faults %+v", f)
	}
	for _, bad := range []any{
		map[string]any{},
		map[string]any{string(unsimulated): map[string]any{}},
		map[string]any{"x": map[string]any{"server_errors": map[string]any{"next": 1}}},
		map[string]any{"x": map[string]any{"slow_delay": "soon"}},
		map[string]any{"x": map[string]any{"malformed": map[string]any{"probability": 2}}},
	} {
		if status, body := e.postJSON("/_sim/faults", bad); status < 400 {
			t.Errorf("faults %v accepted: %s", bad, body)
		}
	}
	req, _ = http.NewRequest(http.MethodGet, e.ts.URL+"/_sim/faults", nil)
	_, _, body = e.do(req)
	const none = `{"revoke":{},"rate_limit":{},"server_error":{},"bad_request":{},"slow":{},"truncate":{},"malformed":{}}`
	if want := `{"facebook":` + none + `,"instagram":` + none + `,"linkedin":` + none +
		`,"x":{"revoke":{},"rate_limit":{},"server_error":{"next":1},"bad_request":{},"slow":{},"truncate":{},"malformed":{},"slow_delay":"10ms"}}`; string(body) != want {
		t.Errorf("faults %s, want %s", body, want)
	}

	if status, _, _ := e.get("/2/users/me", tok["access_token"]); status != http.StatusServiceUnavailable {
		t.Errorf("injected 503: %d", status)
	}
	status, body = e.postJSON("/_sim/revoke", map[string]string{"token": tok["access_token"]})
	if status != http.StatusOK || string(body) != `{"revoked":true}` {
		t.Errorf("revoke: %d %s", status, body)
	}
	if status, _, _ := e.get("/2/users/me", tok["access_token"]); status != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", status)
	}

	req, _ = http.NewRequest(http.MethodGet, e.ts.URL+"/_sim/stats", nil)
	_, _, body = e.do(req)
	st := decode[Stats](t, body).Platforms[topics.X]
	if st.Requests != 2 || st.Errors != 2 || st.Faults != 1 || st.Apps[IssuedClientID].Requests != 1 || st.Apps[unknownApp].Requests != 1 ||
		st.Accounts[accounts["x"][1].ID].Requests != 1 || st.Endpoints[XEndpointUsersMe].Requests != 2 {
		t.Errorf("stats %s", body)
	}
	e.srv.ResetStats()
	if st := e.srv.Stats().Platforms[topics.X]; st.Requests != 0 || len(st.Endpoints) != 0 {
		t.Errorf("after reset: %+v", st)
	}
}

func TestOAuthStats(t *testing.T) {
	e := newEnv(t, Config{})
	code := e.authorize(authParams("app", "tweet.read users.read"), "")
	e.exchange(code, testVerifier, "app", "")
	e.exchange(code, testVerifier, "app", "")
	st := e.srv.Stats().Platforms[topics.X]
	if c := st.Endpoints[XEndpointToken]; c.Requests != 2 || c.Errors != 1 {
		t.Errorf("token endpoint %+v", c)
	}
	if c := st.Apps["app"]; c.Requests != 3 {
		t.Errorf("app %+v", c)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, Config{X: XConfig{UsersMe: Limit{Requests: 1000}, Faults: Faults{ServerError: Fault{Probability: 0.2}}}})
	var wg sync.WaitGroup
	for i := range 8 {
		access, _, id := e.token(i % 3)
		wg.Go(func() {
			for range 20 {
				for _, p := range []string{"/2/users/me?user.fields=public_metrics", "/2/users/" + id + "/tweets?max_results=20"} {
					req, _ := http.NewRequest(http.MethodGet, e.base+p, nil)
					req.Header.Set("Authorization", "Bearer "+access)
					resp, err := e.ts.Client().Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
				}
			}
		})
		wg.Go(func() {
			for range 20 {
				e.srv.Stats()
				e.srv.SetFaults(topics.X, Faults{ServerError: Fault{Probability: 0.1}})
				e.srv.IssueToken(topics.X, id)
			}
		})
	}
	wg.Wait()
	if st := e.srv.Stats().Platforms[topics.X]; st.Requests != 8*20*2 {
		t.Errorf("requests %d, want %d", st.Requests, 8*20*2)
	}
}
