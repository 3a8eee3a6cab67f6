package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

// freeAddr returns a 127.0.0.1 address no one listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// command is one `pulse` command running in the background, as main runs
// it.
type command struct {
	args   []string
	cancel context.CancelFunc
	done   chan int
	stderr *syncBuffer
}

func startCommand(t *testing.T, args ...string) *command {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &command{args: args, cancel: cancel, done: make(chan int, 1), stderr: &syncBuffer{}}
	go func() { c.done <- run(ctx, args, &syncBuffer{}, c.stderr) }()
	return c
}

// stop cancels the command (SIGTERM's effect) and checks it exits 0.
func (c *command) stop(t *testing.T) {
	t.Helper()
	c.cancel()
	select {
	case code := <-c.done:
		if code != 0 {
			t.Errorf("pulse %s exited %d; stderr:\n%s", strings.Join(c.args, " "), code, c.stderr)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("pulse %s did not stop within 60s", c.args[0])
	}
}

// TestStandaloneCommandsTogether runs Pulse as separate commands, the way
// compose deploys it: broker, migrate, sim, api, scheduler, fetcher,
// processor and sink, each through main's own code path with its own
// flags. A user signs up, links an X account through the simulator's
// consent page, and reads its follower count over GraphQL.
func TestStandaloneCommandsTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every component")
	}
	chURL := chtest.URL(t)
	chtest.MustOpenURL(t, chURL)
	pgURL := pgtest.FreshURL(t)
	key := make([]byte, 32)
	rand.Read(key)
	brokerAddr, simAddr, apiAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	apiURL, simURL := "http://"+apiAddr, "http://"+simAddr
	const seed = 5
	start := time.Now()

	// The directories first: t.Cleanup runs last-registered first, so the
	// commands are stopped before their directories are removed (the
	// broker writes its data dir until it stops).
	brokerDir, mailDir := t.TempDir(), t.TempDir()
	var cmds []*command
	t.Cleanup(func() {
		for i := len(cmds) - 1; i >= 0; i-- {
			cmds[i].stop(t)
		}
	})
	cmds = append(cmds, startCommand(t, "broker", "--listen="+brokerAddr, "--data-dir="+brokerDir))
	eventually(t, 30*time.Second, func() bool {
		c, err := net.Dial("tcp", brokerAddr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "broker not listening")
	engines := []string{"--postgres-url=" + pgURL, "--clickhouse-url=" + chURL}
	if code, _, errOut := runCLI(t, append([]string{"migrate"}, engines...)...); code != 0 {
		t.Fatalf("migrate exited %d: %s", code, errOut)
	}
	kafka := []string{"--brokers=" + brokerAddr}
	keys := []string{"--master-keys=test:" + base64.StdEncoding.EncodeToString(key)}
	conns := []string{"--sim-url=" + simURL, "--public-url=" + apiURL}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cmds = append(cmds,
		startCommand(t, "sim", "--listen="+simAddr, fmt.Sprintf("--seed=%d", seed)),
		startCommand(t, cat([]string{"api", "--http-addr=" + apiAddr, "--mail-dir=" + mailDir}, kafka, engines, keys, conns)...),
		startCommand(t, cat([]string{"scheduler", "--interval=1m"}, kafka, []string{"--postgres-url=" + pgURL})...),
		startCommand(t, cat([]string{"fetcher"}, kafka, []string{"--postgres-url=" + pgURL}, keys, conns)...),
		startCommand(t, cat([]string{"processor", "--state-dir="}, kafka, conns)...),
		startCommand(t, cat([]string{"sink"}, kafka, []string{"--clickhouse-url=" + chURL})...),
	)
	eventually(t, 60*time.Second, func() bool {
		for _, c := range cmds {
			select {
			case code := <-c.done:
				t.Fatalf("pulse %s exited %d early; stderr:\n%s", c.args[0], code, c.stderr)
			default:
			}
		}
		resp, err := http.Get(apiURL + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	}, "api not healthy")

	// Sign up and link the simulator's first X account through its
	// consent page, as a browser would.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var signup struct{ Token string }
	postJSONTo(t, browser, apiURL+"/auth/signup", map[string]string{"email": "standalone@example.com", "password": "a long enough password"}, http.StatusAccepted, &struct{}{})
	postJSONTo(t, browser, apiURL+"/auth/verify", map[string]string{"token": mailedSignUpToken(t, mailDir, "standalone@example.com")}, http.StatusCreated, &signup)
	resp := mustDo(t, browser, http.MethodGet, apiURL+"/oauth/x/start", "", nil, http.StatusFound)
	authURL, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(authURL.String(), simURL) {
		t.Fatalf("authorize URL %q, want the simulator's", resp.Header.Get("Location"))
	}
	s, err := sim.New(sim.Config{Seed: seed}) // the same data as the sim command's
	if err != nil {
		t.Fatal(err)
	}
	acct := s.Accounts(topics.X)[0]
	form := authURL.Query()
	form.Set("account", acct.ID)
	form.Set("decision", "allow")
	consent := *authURL
	consent.RawQuery = ""
	resp = mustDo(t, browser, http.MethodPost, consent.String(), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), http.StatusFound)
	resp = mustDo(t, browser, http.MethodGet, resp.Header.Get("Location"), "", nil, http.StatusFound)
	if loc := resp.Header.Get("Location"); loc != "/#/accounts?linked=x" {
		t.Fatalf("callback redirected to %q", loc)
	}

	checkFollowers(t, apiURL, signup.Token, s, acct.ID, start)
}

// mailedSignUpToken reads the sign-up link's token from the mail to addr
// that `pulse api --mail-dir` wrote.
func mailedSignUpToken(t *testing.T, dir, addr string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`/#/verify\?token=([A-Za-z0-9_-]+)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := link.FindSubmatch(b); m != nil && strings.Contains(string(b), "\r\nTo: "+addr+"\r\n") {
			return string(m[1])
		}
	}
	t.Fatalf("no sign-up link mailed to %s among %v", addr, files)
	return ""
}
