package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/api"
)

// zeros is an endless reader of '0' bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}

// TestOversizedBodyGets413WithoutBeingRead: a 10 MB GraphQL body, with a
// Content-Length or chunked, is refused with 413 after reading at most the
// cap (none of it when the length is declared).
func TestOversizedBodyGets413WithoutBeingRead(t *testing.T) {
	const size = 10 << 20
	e := newEnv(t)
	limit := api.DefaultLimits.MaxBodyBytes
	for _, declared := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length=%v", declared), func(t *testing.T) {
			e.bodyRead.Store(0)
			// A raw connection: the client writes the body while reading the
			// early answer (net/http's client may report the reset of the
			// connection the server closes instead of its answer).
			conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			framing := "Transfer-Encoding: chunked"
			if declared {
				framing = fmt.Sprintf("Content-Length: %d", size)
			}
			fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%s\r\n\r\n",
				e.srv.Listener.Addr(), framing)
			go func() {
				var w io.Writer = conn
				if !declared {
					cw := httputil.NewChunkedWriter(conn)
					defer cw.Close()
					w = cw
				}
				io.Copy(w, io.LimitReader(zeros{}, size)) // fails once the server closes: expected
			}()
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "too_large") {
				t.Fatalf("status %d %.200s, want 413 too_large", resp.StatusCode, b)
			}
			want := limit + 1
			if declared {
				want = 0
			}
			if n := e.bodyRead.Load(); n > want {
				t.Fatalf("the API read %d bytes of the body, want at most %d", n, want)
			}
		})
	}
}

// countingLinks counts the resolvers' link store reads.
type countingLinks struct {
	api.Links
	calls *atomic.Int64
}

// countingLinkStore is countingLinks under the api.Links interface.
type countingLinkStore struct{ *countingLinks }

func (c countingLinkStore) Links(ctx context.Context, userID string) ([]pulse.Link, error) {
	c.calls.Add(1)
	return c.countingLinks.Links.Links(ctx, userID)
}

// countingMetrics is an analytics store that counts its calls; with
// block set, each call waits for it to close, tracking how many wait at
// once.
type countingMetrics struct {
	calls, inflight, peak atomic.Int64
	block                 chan struct{}
}

func (m *countingMetrics) enter() {
	m.calls.Add(1)
	n := m.inflight.Add(1)
	for p := m.peak.Load(); n > p && !m.peak.CompareAndSwap(p, n); p = m.peak.Load() {
	}
	if m.block != nil {
		<-m.block
	}
	m.inflight.Add(-1)
}

func (m *countingMetrics) Series(context.Context, pulse.SeriesQuery) ([]pulse.Point, error) {
	m.enter()
	return nil, nil
}

func (m *countingMetrics) Feed(context.Context, pulse.FeedQuery) ([]pulse.PostRow, error) {
	m.enter()
	return nil, nil
}

func (m *countingMetrics) PostHistory(context.Context, pulse.PostHistoryQuery) ([]pulse.PostPoint, error) {
	m.enter()
	return nil, nil
}

func (m *countingMetrics) Trends(context.Context, pulse.TrendQuery) ([]pulse.Trend, error) {
	m.enter()
	return nil, nil
}

func (m *countingMetrics) LastObserved(context.Context, string, time.Time) (map[string]time.Time, error) {
	m.enter()
	return nil, nil
}

// aliases returns a query of n aliases of field.
func aliases(n int, field string) string {
	var b strings.Builder
	b.WriteString("query($f: Time!, $t: Time!) {")
	for i := range n {
		fmt.Fprintf(&b, " a%d: %s", i, field)
	}
	b.WriteString(" }")
	return b.String()
}

var monthVars = map[string]any{"f": "2026-10-01T00:00:00Z", "t": "2026-11-01T00:00:00Z"}

// TestTwoThousandAliasesAreRefusedBeforeAnyStoreCall: 2,000 aliases of
// metrics never reach a store. Each limit refuses them on its own: with
// the ones before it raised, the next still stops the query.
func TestTwoThousandAliasesAreRefusedBeforeAnyStoreCall(t *testing.T) {
	query := aliases(2000, "metrics(grain: DAY, from: $f, to: $t) { platform }")
	huge := 1 << 30
	for _, tc := range []struct {
		name   string
		limits api.Limits
		status int
		code   string
	}{
		{"body size", api.Limits{}, http.StatusRequestEntityTooLarge, ""},
		{"tokens", api.Limits{MaxBodyBytes: 1 << 20}, 0, "GRAPHQL_PARSE_FAILED"},
		{"fields", api.Limits{MaxBodyBytes: 1 << 20, MaxTokens: huge}, 0, api.CodeTooManyFields},
		{"complexity", api.Limits{MaxBodyBytes: 1 << 20, MaxTokens: huge, MaxFields: huge}, 0, "COMPLEXITY_LIMIT_EXCEEDED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var accountCalls atomic.Int64
			metrics := &countingMetrics{}
			e := newEnv(t, func(c *api.Config) {
				c.Limits = tc.limits
				c.Metrics = metrics
				c.Links = countingLinkStore{&countingLinks{c.Links, &accountCalls}}
			})
			b := e.browser(t)
			b.signUp("aliases@example.com")

			// The control: a small query does reach the stores.
			b.mustGraphQL(aliases(2, "metrics(grain: DAY, from: $f, to: $t) { platform }"), monthVars, nil)
			b.mustGraphQL(`{ links { platform } }`, nil, nil)
			if metrics.calls.Load() != 2 || accountCalls.Load() != 1 {
				t.Fatalf("control: %d metrics and %d account calls, want 2 and 1", metrics.calls.Load(), accountCalls.Load())
			}
			metrics.calls.Store(0)
			accountCalls.Store(0)

			r := b.postJSON("/graphql", map[string]any{"query": query + " ", "variables": monthVars})
			if tc.status != 0 && r.StatusCode != tc.status {
				t.Fatalf("status %d %.300s, want %d", r.StatusCode, r.body, tc.status)
			}
			if tc.code != "" {
				var env struct{ Errors []gqlError }
				r.json(t, &env)
				if len(env.Errors) == 0 || env.Errors[0].Extensions.Code != tc.code {
					t.Fatalf("errors %+v, want %s", env.Errors, tc.code)
				}
			}
			if n := metrics.calls.Load() + accountCalls.Load(); n != 0 {
				t.Fatalf("%d store calls for a refused query", n)
			}
		})
	}
}

// TestComplexityWeighsMetricsByRangeAndGrain: one hourly series over the
// longest range the resolver allows fits the default limit, two do not,
// and the same two at daily grain are cheap.
func TestComplexityWeighsMetricsByRangeAndGrain(t *testing.T) {
	metrics := &countingMetrics{}
	e := newEnv(t, func(c *api.Config) { c.Metrics = metrics })
	b := e.browser(t)
	b.signUp("cost@example.com")
	field := func(grain string) string {
		return "metrics(grain: " + grain + `, from: $f, to: $t) { platform accountId handle points {
			at followers followersMin followersMax followersAvg following postsCount hours postsPublished likesGained commentsGained } }`
	}
	b.mustGraphQL(aliases(1, field("HOUR")), monthVars, nil)
	b.wantGraphQLError(aliases(2, field("HOUR")), monthVars, "COMPLEXITY_LIMIT_EXCEEDED")
	b.mustGraphQL(aliases(2, field("DAY")), monthVars, nil)
	if n := metrics.calls.Load(); n != 3 {
		t.Fatalf("%d metrics calls, want 3 (the refused query makes none)", n)
	}
}

// TestRootFieldsOfOneQueryRunBounded: eight feed aliases in one query
// reach the store at most MaxConcurrentFields at a time.
func TestRootFieldsOfOneQueryRunBounded(t *testing.T) {
	metrics := &countingMetrics{block: make(chan struct{})}
	e := newEnv(t, func(c *api.Config) { c.Metrics = metrics; c.Limits.MaxConcurrentFields = 3 })
	b := e.browser(t)
	b.signUp("bounded@example.com")
	var release sync.Once
	unblock := func() { release.Do(func() { close(metrics.block) }) }
	t.Cleanup(unblock)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.mustGraphQL(strings.Replace(aliases(8, "feed(limit: 1) { id }"), "query($f: Time!, $t: Time!)", "", 1), nil, nil)
	}()
	eventually(t, func() bool { return metrics.inflight.Load() >= 3 })
	// Give the other five every chance to start: they must not.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		if n := metrics.inflight.Load(); n > 3 {
			t.Fatalf("%d feed calls at once, want at most 3", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	unblock()
	<-done
	if metrics.calls.Load() != 8 || metrics.peak.Load() != 3 {
		t.Fatalf("%d calls, peak %d; want 8 calls, peak 3", metrics.calls.Load(), metrics.peak.Load())
	}
}

// eventually polls cond until it holds, failing the test after 10s.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestIntrospectionAndPlaygroundAreOffUnlessEnabled.
func TestIntrospectionAndPlaygroundAreOffUnlessEnabled(t *testing.T) {
	const introspect = `{ __schema { queryType { name } } }`
	off := newEnv(t).browser(t)
	off.signUp("off@example.com")
	off.wantGraphQLError(introspect, nil, api.CodeIntrospectionOff)
	off.wantGraphQLError(`query { ...f } fragment f on Query { __type(name: "Query") { name } }`, nil, api.CodeIntrospectionOff)
	off.mustGraphQL(`{ __typename me { __typename } }`, nil, nil)
	if r := off.get("/playground"); r.StatusCode == http.StatusOK && strings.Contains(string(r.body), "GraphiQL") {
		t.Fatalf("playground served by default")
	}

	on := newEnv(t, func(c *api.Config) { c.Introspection, c.Playground = true, true }).browser(t)
	on.signUp("on@example.com")
	var got struct {
		Schema struct{ QueryType struct{ Name string } } `json:"__schema"`
	}
	on.mustGraphQL(introspect, nil, &got)
	if got.Schema.QueryType.Name != "Query" {
		t.Fatalf("introspection enabled: %+v", got)
	}
	if r := on.get("/playground"); r.StatusCode != http.StatusOK {
		t.Fatalf("playground enabled: %d", r.StatusCode)
	}
}

// TestPersistedQueryAllowList: with an allow-list only its documents run,
// sent in full or by hash.
func TestPersistedQueryAllowList(t *testing.T) {
	const allowed = `query Me { me { email } }`
	b := newEnv(t, func(c *api.Config) { c.PersistedQueries = []string{allowed} }).browser(t)
	b.signUp("persisted@example.com")
	var me struct{ Me struct{ Email string } }
	b.mustGraphQL(allowed, nil, &me)
	if me.Me.Email != "persisted@example.com" {
		t.Fatalf("me = %+v", me)
	}
	b.wantGraphQLError(`query Other { me { id } }`, nil, api.CodeQueryNotAllowed)

	byHash := func(hash string) []gqlError {
		r := b.postJSON("/graphql", map[string]any{"extensions": map[string]any{
			"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}})
		var env struct {
			Data   json.RawMessage
			Errors []gqlError
		}
		r.json(t, &env)
		if len(env.Errors) == 0 && !strings.Contains(string(env.Data), "persisted@example.com") {
			t.Fatalf("by hash: %s", r.body)
		}
		return env.Errors
	}
	if errs := byHash(api.QueryHash(allowed)); len(errs) != 0 {
		t.Fatalf("allowed hash: %+v", errs)
	}
	if errs := byHash(api.QueryHash(`query Other { me { id } }`)); len(errs) == 0 || errs[0].Extensions.Code != api.CodePersistedQueryUnknown {
		t.Fatalf("unknown hash: %+v", errs)
	}
}

// TestSubscriptionsPerUserAreCapped: a user's third concurrent
// subscription fails with THROTTLED; closing one makes room.
func TestSubscriptionsPerUserAreCapped(t *testing.T) {
	now := newFakeNow()
	e := newEnv(t, func(c *api.Config) { c.Now = now; c.Limits.MaxSubscriptionsPerUser = 2 })
	b := e.browser(t)
	b.signUp("subs@example.com")
	// The SSE transport answers with headers before the resolver takes
	// its slot; a stream's first event says the slot is taken.
	first := openSSE(t, b)
	second := openSSE(t, b)
	for i, s := range []*sseStream{first, second} {
		if ev := s.next(t); !strings.Contains(ev, `"summary"`) {
			t.Fatalf("subscription %d: %s, want a summary", i+1, ev)
		}
	}
	third := openSSE(t, b)
	if ev := third.next(t); !strings.Contains(ev, "THROTTLED") {
		t.Fatalf("third subscription: %s, want THROTTLED", ev)
	}
	first.cancel()
	eventually(t, func() bool {
		s := openSSE(t, b)
		defer s.cancel()
		return !strings.Contains(s.next(t), "THROTTLED")
	})
}

// sseStream is an open SSE subscription.
type sseStream struct {
	cancel context.CancelFunc
	lines  *bufio.Scanner
}

const summarySubscription = `{"query":"subscription { summary { accounts { handle followers } } }"}`

func openSSE(t *testing.T, b *browser) *sseStream {
	t.Helper()
	return openSSEBody(t, b, summarySubscription)
}

// openSSEBody opens a subscription over SSE with the JSON request body.
func openSSEBody(t *testing.T, b *browser, body string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.e.srv.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Origin", b.e.srv.URL)
	if b.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+b.bearer)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sseStream{cancel: cancel, lines: bufio.NewScanner(resp.Body)}
}

// next returns the next data event, or "" when the stream ends.
func (s *sseStream) next(t *testing.T) string {
	t.Helper()
	for s.lines.Scan() {
		if line := s.lines.Text(); strings.HasPrefix(line, "data: ") {
			return strings.TrimPrefix(line, "data: ")
		}
	}
	return ""
}

// servedWithTimeouts serves e's API through api.Server.HTTPServer on a
// free port and returns its base URL.
func servedWithTimeouts(t *testing.T, e *env) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := e.api.HTTPServer()
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String()
}

// TestSlowBodyIsCutOffButStreamsOutliveTheTimeouts: a client that
// stalls while sending its body loses the connection after ReadTimeout,
// while an SSE subscription keeps receiving past both timeouts.
func TestSlowBodyIsCutOffButStreamsOutliveTheTimeouts(t *testing.T) {
	now := newFakeNow()
	e := newEnv(t, func(c *api.Config) {
		c.Now = now
		c.Limits.ReadTimeout = 300 * time.Millisecond
		c.Limits.WriteTimeout = 300 * time.Millisecond
		c.Limits.KeepAlive = 50 * time.Millisecond
	})
	base := servedWithTimeouts(t, e)

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("a stalled body was not cut off: %v", err) // a deadline error: the server kept waiting
	}

	// Sign-up's password hashing may outlast the tiny write timeout: make
	// the user and session in the store.
	u, err := e.pg.CreateUser(context.Background(), "stream@example.com", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	id := u.ID
	tok, err := e.pg.CreateSession(context.Background(), id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now.publish(aggregate(id, 100))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", strings.NewReader(summarySubscription))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	start := time.Now()
	// Read keep-alives until well past both timeouts, then expect a push.
	for time.Since(start) < 4*300*time.Millisecond {
		if !lines.Scan() {
			t.Fatalf("stream ended after %v: %v", time.Since(start), lines.Err())
		}
	}
	now.publish(aggregate(id, 321))
	for lines.Scan() {
		if strings.Contains(lines.Text(), "321") {
			return
		}
	}
	t.Fatalf("stream ended without the push after %v: %v", time.Since(start), lines.Err())
}
