package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulsehq/pulse/assembly"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

// syncBuffer is a bytes.Buffer safe for the command's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestDevServesFollowerCountsOverGraphQL runs `pulse dev` through main's
// own code path (run, the same parser and the same assembly) on free ports
// and fresh databases, signs in as the demo user over HTTP, and reads a
// demo account's follower count from GraphQL. The count must be the one
// the simulator (same seed) serves for that account at some moment of the
// run.
func TestDevServesFollowerCountsOverGraphQL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every component")
	}
	chURL := chtest.URL(t)
	chtest.MustOpenURL(t, chURL) // creates it now, drops it at the end
	start := time.Now()

	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--http-addr=127.0.0.1:0", "--admin-addr=", "--broker-port=0", "--data-dir=" + t.TempDir(),
			"--postgres-url=" + pgtest.FreshURL(t), "--clickhouse-url=" + chURL, "--seed=3", "--demo-accounts=1"},
			&syncBuffer{}, &stderr)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("pulse dev exited %d after cancel; stderr:\n%s", code, stderr.String())
			}
		case <-time.After(60 * time.Second):
			t.Errorf("pulse dev did not stop within 60s of cancel")
		}
	}
	t.Cleanup(stop)

	// The banner names the address it chose.
	banner := regexp.MustCompile(`dashboard:  (http://127\.0\.0\.1:\d+)/`)
	var base string
	eventually(t, 60*time.Second, func() bool {
		select {
		case code := <-done:
			t.Fatalf("pulse dev exited %d; stderr:\n%s", code, stderr.String())
		default:
		}
		if m := banner.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
		}
		return base != ""
	}, "no banner")

	// Sign in as the demo user, as a client would.
	body, _ := json.Marshal(map[string]string{"email": assembly.DemoEmail, "password": assembly.DemoPassword})
	resp, err := http.Post(base+"/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var login struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || login.Token == "" {
		t.Fatalf("login: %d %v", resp.StatusCode, err)
	}

	s, err := sim.New(sim.Config{Seed: 3}) // the same data as dev's simulator
	if err != nil {
		t.Fatal(err)
	}
	checkFollowers(t, base, login.Token, s, s.Accounts(topics.X)[0].ID, start)
	stop()
	if !strings.Contains(stderr.String(), "demo login: "+assembly.DemoEmail) {
		t.Errorf("banner lacks the demo login:\n%s", stderr.String())
	}
}

// checkFollowers waits until GraphQL, asked with token, returns a follower
// reading of the user's X account, and checks it is the one the simulator
// s (same seed as the one fetched) served at some moment since start.
func checkFollowers(t *testing.T, base, token string, s *sim.Server, accountID string, start time.Time) {
	t.Helper()
	type point struct {
		Followers int64
		Hours     int64
	}
	var got struct {
		Metrics []struct {
			Platform  string
			AccountID string
			Points    []point
		}
	}
	query := `query($from: Time!, $to: Time!) { metrics(grain: HOUR, from: $from, to: $to, platforms: [X]) { platform accountId points { followers hours } } }`
	from := start.UTC().Truncate(time.Hour)
	vars := map[string]any{"from": from, "to": from.Add(2 * time.Hour)}
	eventually(t, 90*time.Second, func() bool {
		got.Metrics = nil
		graphql(t, base, token, query, vars, &got)
		return len(got.Metrics) > 0 && len(got.Metrics[0].Points) > 0 && got.Metrics[0].Points[len(got.Metrics[0].Points)-1].Hours > 0
	}, "no follower count in GraphQL")
	end := time.Now()
	if len(got.Metrics) != 1 || got.Metrics[0].Platform != "X" || got.Metrics[0].AccountID != accountID {
		t.Fatalf("metrics %+v, want the user's one X account %s", got.Metrics, accountID)
	}
	m := got.Metrics[0]
	followers := m.Points[len(m.Points)-1].Followers
	// Followers move continuously: the count read must lie within what
	// the simulator served meanwhile.
	lo, hi := int64(1<<62), int64(-1)
	for at := start; !at.After(end); at = at.Add(10 * time.Millisecond) {
		f, err := s.Followers(topics.X, accountID, at)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi = min(lo, f), max(hi, f)
	}
	if followers < lo-1 || followers > hi+1 || followers == 0 {
		t.Fatalf("GraphQL followers %d, the simulator served %d..%d meanwhile", followers, lo, hi)
	}
	t.Logf("followers %d (simulator %d..%d), %s after start", followers, lo, hi, end.Sub(start).Round(time.Millisecond))
}

// postJSONTo posts v as JSON with c, wants status, and decodes the answer
// into out.
func postJSONTo(t *testing.T, c *http.Client, u string, v any, status int, out any) {
	t.Helper()
	body, _ := json.Marshal(v)
	resp := mustDo(t, c, http.MethodPost, u, "application/json", bytes.NewReader(body), status)
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
}

// mustDo sends a request with c and fails the test unless the answer has
// status. The body stays readable (it is buffered).
func mustDo(t *testing.T, c *http.Client, method, u, contentType string, body io.Reader, status int) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %d %s, want %d", method, u, resp.StatusCode, b, status)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

// eventually waits for cond, described by msg, with testkit.Eventually.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	testkit.Eventually(t, timeout, func() error {
		if !cond() {
			return errors.New(msg)
		}
		return nil
	})
}

// graphql runs query with a bearer token and decodes its data into out.
func graphql(t *testing.T, base, token, query string, vars map[string]any, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	if len(env.Errors) > 0 {
		t.Fatalf("graphql errors: %+v", env.Errors)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		t.Fatal(err)
	}
}
