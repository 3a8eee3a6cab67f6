package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/pulsehq/pulse/api"
)

// TestSubscriptionEndsWithItsSession: an SSE subscription ends within its
// check interval once its session is signed out, and another user's when
// the account is deleted.
func TestSubscriptionEndsWithItsSession(t *testing.T) {
	const interval = 100 * time.Millisecond
	now := newFakeNow()
	e := newEnv(t, func(c *api.Config) { c.Now = now; c.SessionCheckInterval = interval })
	for _, end := range []string{"logout", "deleteAccount"} {
		t.Run(end, func(t *testing.T) {
			b := e.browser(t)
			id, tok := b.signUp(end + "@example.com")
			b.bearer = tok
			now.publish(aggregate(id, 100))
			s := openSSE(t, b)
			if ev := s.next(t); !strings.Contains(ev, `"followers":100`) {
				t.Fatalf("first event: %s", ev)
			}
			var ended time.Time
			switch end {
			case "logout":
				if r := b.postJSON("/auth/logout", nil); r.StatusCode != http.StatusNoContent {
					t.Fatalf("logout: %d %s", r.StatusCode, r.body)
				}
			case "deleteAccount":
				b.mustGraphQL(`mutation($pw: String!) { deleteAccount(password: $pw) }`, map[string]any{"pw": testPassword}, nil)
			}
			ended = time.Now()
			// The stream's context allows 30s; it must end long before.
			for ev := s.next(t); ev != ""; ev = s.next(t) {
				if time.Since(ended) > 50*interval {
					t.Fatalf("still streaming %v after %s: %s", time.Since(ended), end, ev)
				}
			}
			if time.Since(ended) > 50*interval {
				t.Fatalf("the stream ended %v after %s, want within a few check intervals (%v)", time.Since(ended), end, interval)
			}
			t.Logf("stream ended %v after %s (check interval %v)", time.Since(ended).Round(time.Millisecond), end, interval)
		})
	}
}

// TestWebSocketWithoutInitIsClosed: a WebSocket that never sends
// connection_init is closed after the init timeout.
func TestWebSocketWithoutInitIsClosed(t *testing.T) {
	e := newEnv(t, func(c *api.Config) { c.Limits.WebSocketInitTimeout = 200 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, _, err = c.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || !strings.Contains(ce.Reason, "initialisation timeout") {
		t.Fatalf("read: %v, want a close for the init timeout", err)
	}
}

// graphqlWSClient returns the directory of the npm graphql-ws client
// (api/testdata/graphql-ws), installing it with npm when missing; it skips
// the test without node or npm.
func graphqlWSClient(t *testing.T) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the graphql-ws client test needs it")
	}
	dir, err = filepath.Abs("testdata/graphql-ws")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "graphql-ws", "package.json")); err == nil {
		return node, dir
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("graphql-ws is not installed in api/testdata/graphql-ws and npm is not available to install it (make graphql-ws)")
	}
	cmd := exec.Command(npm, "install", "--no-save", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("npm install graphql-ws failed (offline?): %v\n%s", err, out)
	}
	return node, dir
}

// wsEvent is a line of subscribe.mjs's output.
type wsEvent struct {
	Next *struct {
		Data   summaryResult
		Errors []gqlError
	}
	Error    string
	Complete bool
}

// refusal is the reason an event refuses the subscription, if it does.
func (ev wsEvent) refusal() string {
	if ev.Next != nil && len(ev.Next.Errors) > 0 {
		return ev.Next.Errors[0].Message
	}
	return ev.Error
}

// TestGraphQLWSClientAuthenticatedByConnectionParams: the graphql-ws
// client from npm, sending the bearer token in connectionParams as
// Apollo/urql set-ups do, receives the summary and its pushes; its stream
// completes once the token is signed out; without a token it is refused.
func TestGraphQLWSClientAuthenticatedByConnectionParams(t *testing.T) {
	node, dir := graphqlWSClient(t)
	now := newFakeNow()
	e := newEnv(t, func(c *api.Config) { c.Now = now; c.SessionCheckInterval = 100 * time.Millisecond })
	b := e.browser(t)
	id, tok := b.signUp("graphql-ws@example.com")
	now.publish(aggregate(id, 100))
	wsURL := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/graphql"
	const query = `subscription { summary(platforms: [X]) { accounts { handle followers } } }`

	run := func(token string) (next func() wsEvent) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		t.Cleanup(cancel)
		cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "subscribe.mjs"), wsURL, token, query)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); cmd.Wait() })
		lines := bufio.NewScanner(out)
		return func() wsEvent {
			t.Helper()
			if !lines.Scan() {
				t.Fatalf("graphql-ws client ended without output: %v", lines.Err())
			}
			var ev wsEvent
			if err := json.Unmarshal(lines.Bytes(), &ev); err != nil {
				t.Fatalf("client output %q: %v", lines.Text(), err)
			}
			return ev
		}
	}

	next := run(tok)
	ev := next()
	if ev.Next == nil || len(ev.Next.Data.Summary.Accounts) != 1 || ev.Next.Data.Summary.Accounts[0].Followers != 100 {
		t.Fatalf("first event: %+v", ev)
	}
	eventually(t, func() bool { return now.subscribers(id) > 0 })
	now.publish(aggregate(id, 123))
	if ev := next(); ev.Next == nil || ev.Next.Data.Summary.Accounts[0].Followers != 123 {
		t.Fatalf("pushed event: %+v", ev)
	}
	b.bearer = tok
	if r := b.postJSON("/auth/logout", nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	if ev := next(); !ev.Complete {
		t.Fatalf("after logout: %+v, want the stream complete", ev)
	}

	if ev := run("")(); !strings.Contains(ev.refusal(), "sign in required") {
		t.Fatalf("without a token: %+v, want sign in required", ev)
	}
	if ev := run("not-a-token")(); !strings.Contains(ev.refusal(), "sign in required") {
		t.Fatalf("with a bad token: %+v, want sign in required", ev)
	}
}

// TestSignOutEverywhere: POST /auth/logout-all from one browser ends every
// session of the user: other browsers, bearer tokens and their live
// subscriptions; another user's sessions stay.
func TestSignOutEverywhere(t *testing.T) {
	now := newFakeNow()
	e := newEnv(t, func(c *api.Config) { c.Now = now; c.SessionCheckInterval = 100 * time.Millisecond })
	laptop := e.browser(t)
	id, tok := laptop.signUp("everywhere@example.com")
	phone := e.browser(t)
	if r := phone.login("everywhere@example.com", testPassword); r.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", r.StatusCode)
	}
	client := e.browser(t)
	client.bearer = tok
	bystander := e.browser(t)
	bystander.signUp("bystander@example.com")
	now.publish(aggregate(id, 100))
	live := openSSE(t, client)
	if ev := live.next(t); !strings.Contains(ev, `"followers":100`) {
		t.Fatalf("first event: %s", ev)
	}

	r := laptop.postJSON("/auth/logout-all", nil)
	var out struct{ Sessions int }
	r.json(t, &out)
	if r.StatusCode != http.StatusOK || out.Sessions != 4 { // sign-up: cookie + bearer; login: cookie + bearer
		t.Fatalf("logout-all: %d %s, want 200 and 4 sessions", r.StatusCode, r.body)
	}
	me := func(b *browser) bool {
		var got struct{ Me *struct{ ID string } }
		b.mustGraphQL(`{ me { id } }`, nil, &got)
		return got.Me != nil
	}
	for name, b := range map[string]*browser{"laptop": laptop, "phone": phone, "bearer client": client} {
		if me(b) {
			t.Errorf("%s still signed in", name)
		}
	}
	if !me(bystander) {
		t.Error("another user was signed out")
	}
	start := time.Now()
	for ev := live.next(t); ev != ""; ev = live.next(t) {
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the bearer client's subscription outlived logout-all by %v", d)
	}
}
