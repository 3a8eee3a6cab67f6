package chaos_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/platforms"
	_ "github.com/pulsehq/pulse/platforms/facebook"
	_ "github.com/pulsehq/pulse/platforms/instagram"
	_ "github.com/pulsehq/pulse/platforms/x"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/topics"
	"github.com/pulsehq/pulse/vault"
)

var (
	runs     = flag.Int("chaos-runs", 1, "chaos runs (make chaos: 20)")
	runFor   = flag.Duration("chaos-duration", 40*time.Second, "how long each run kills components")
	chOutage = flag.Duration("chaos-clickhouse-outage", 10*time.Second, "how long ClickHouse is stopped in each run (make chaos: 60s)")
	accounts = flag.Int("chaos-accounts", 20, "linked accounts per platform (X, Facebook, Instagram)")
	// The short run in make test leaves the broker alone, to stay short.
	// make chaos kills the broker too.
	killBroker = flag.Bool("chaos-kill-broker", false, "kill -9 the broker too (make chaos: on)")
)

// killable are the components a run kills, each its own `pulse` process.
var killable = []string{"broker", "scheduler", "fetcher", "processor", "sink", "api"}

// summary adds up every run.
type summary struct {
	runs, stuck                            int
	kills                                  map[string]int
	expected, found, duplicated, missing   int
	wrong, rollupsChecked, rollupMismatch  int
	postsExpected, postsFound, postsMissed int
	breaches                               int64
	// The API's answers: queries answered while components were killed,
	// and, at the end, answers compared with ClickHouse's own and those
	// still differing when the comparison's deadline passed.
	apiDuring, apiChecked, apiStale int
}

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos runs separate processes for a minute or more")
	}
	bin := buildPulse(t)
	chs := chtest.StartServer(t)
	pg := startPostgres(t)
	sum := summary{kills: map[string]int{}}
	for i := range *runs {
		r := &run{t: t, n: i, bin: bin, chs: chs, pg: pg, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i))),
			kills: map[string]int{}}
		r.do(&sum)
		sum.runs++
	}
	var kills []string
	for _, c := range killable {
		kills = append(kills, fmt.Sprintf("%s %d", c, sum.kills[c]))
	}
	t.Logf("chaos summary: %d runs (%d did not catch up, not checked); kill -9 per component: %s; ClickHouse stopped %v and PostgreSQL restarted once per run;\n"+
		"  hourly rows expected %d, found %d, duplicated %d, missing %d, wrong value %d;\n"+
		"  post observations expected %d, found %d, missing %d;\n"+
		"  rollup buckets checked %d, not equal to a recomputation %d; simulator limit breaches %d;\n"+
		"  API answers during the kills %d; at the end compared with ClickHouse's %d, still stale at the deadline %d",
		sum.runs, sum.stuck, strings.Join(kills, ", "), *chOutage, sum.expected, sum.found, sum.duplicated, sum.missing, sum.wrong,
		sum.postsExpected, sum.postsFound, sum.postsMissed, sum.rollupsChecked, sum.rollupMismatch, sum.breaches,
		sum.apiDuring, sum.apiChecked, sum.apiStale)
}

// buildPulse builds cmd/pulse into a temporary directory.
func buildPulse(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pulse")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/pulse")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// pgServer is a PostgreSQL 15 cluster of the test's own.
type pgServer struct {
	dir  string
	port int
}

const pgBin = "/usr/lib/postgresql/15/bin"

func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	if _, err := os.Stat(pgBin + "/pg_ctl"); err != nil {
		t.Skipf("PostgreSQL 15 not installed: %v", err)
	}
	dir, err := os.MkdirTemp("", "pulse-chaos-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &pgServer{dir: dir, port: freePort(t)}
	if os.Getuid() == 0 {
		// initdb refuses root: the cluster belongs to user postgres.
		if out, err := exec.Command("chown", "postgres:postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
		os.Chmod(dir, 0o700)
	}
	s.ctl(t, pgBin+"/initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust")
	if err := s.pgctl("start"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.ctl(t, pgBin+"/pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "stop") })
	return s
}

func (s *pgServer) ctl(t *testing.T, args ...string) {
	t.Helper()
	if err := s.tryCtl(args...); err != nil {
		t.Fatal(err)
	}
}

// tryCtl runs a PostgreSQL command as the postgres user and says what
// went wrong, for goroutines other than the test's.
func (s *pgServer) tryCtl(args ...string) error {
	if os.Getuid() == 0 {
		args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// pgctl runs pg_ctl start or restart (fast shutdown), waiting for it.
func (s *pgServer) pgctl(action string) error {
	return s.tryCtl(pgBin+"/pg_ctl", "-D", filepath.Join(s.dir, "data"), "-w", "-m", "fast", "-l", filepath.Join(s.dir, "log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", s.port, s.dir), action)
}

func (s *pgServer) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// proc is one supervised component: restarted whenever it exits, until
// the run stops it.
type proc struct {
	name string
	args []string
	env  []string
	log  string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	stopping bool
}

func (p *proc) start(r *run) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return
	}
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(r.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		r.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
		p.mu.Lock()
		again := !p.stopping
		p.mu.Unlock()
		if again {
			// Crashed or killed: restart like a process supervisor would,
			// after a moment.
			time.Sleep(time.Duration(200+r.rngN(1300)) * time.Millisecond)
			p.start(r)
		}
	}()
}

// kill sends SIGKILL to the running process, if any; the supervisor
// restarts it.
func (p *proc) kill() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.ProcessState != nil {
		return false
	}
	return p.cmd.Process.Signal(syscall.SIGKILL) == nil
}

// stop ends the component with SIGTERM (SIGKILL after 20s) and does not
// restart it.
func (p *proc) stop() {
	p.mu.Lock()
	p.stopping = true
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

type run struct {
	t     *testing.T
	n     int
	bin   string
	chs   *chtest.Server
	pg    *pgServer
	dir   string
	env   []string
	procs map[string]*proc
	kills map[string]int

	rngMu sync.Mutex
	rng   *rand.Rand

	simURL, chURL, pgURL string
	brokers              []string
	// apiURL is the API's; userID and token the linked user's, signed in.
	apiURL, userID, token string
	started               time.Time
}

func (r *run) rngN(n int) int {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	return r.rng.IntN(n)
}

func (r *run) do(sum *summary) {
	t := r.t
	// The run's directory (broker data dir, goka state, every component's
	// log) is kept when the run fails, for its records and offsets.
	dir, err := os.MkdirTemp("", fmt.Sprintf("pulse-chaos-run%d-", r.n))
	if err != nil {
		t.Fatal(err)
	}
	r.dir = dir
	failedBefore := t.Failed()
	r.procs = map[string]*proc{}
	brokerPort, simPort, apiPort := freePort(t), freePort(t), freePort(t)
	r.brokers = []string{fmt.Sprintf("127.0.0.1:%d", brokerPort)}
	r.simURL = fmt.Sprintf("http://127.0.0.1:%d", simPort)
	r.apiURL = fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	r.started = time.Now().UTC()
	r.chURL = r.chs.URL(fmt.Sprintf("pulse_chaos_%d", r.n))
	r.pgURL = r.pg.url(fmt.Sprintf("pulse_chaos_%d", r.n))
	key := make([]byte, 32)
	crand.Read(key)
	keys := "chaos:" + base64.StdEncoding.EncodeToString(key)
	r.env = []string{
		"PULSE_BROKERS=" + r.brokers[0], "PULSE_BROKER_LISTEN=" + r.brokers[0], "PULSE_BROKER_DATA_DIR=" + filepath.Join(r.dir, "kafka"),
		"PULSE_POSTGRES_URL=" + r.pgURL, "PULSE_CLICKHOUSE_URL=" + r.chURL, "PULSE_MASTER_KEYS=" + keys,
		"PULSE_SIM_URL=" + r.simURL, fmt.Sprintf("PULSE_SIM_LISTEN=127.0.0.1:%d", simPort),
		fmt.Sprintf("PULSE_HTTP_ADDR=127.0.0.1:%d", apiPort), fmt.Sprintf("PULSE_PUBLIC_URL=http://127.0.0.1:%d", apiPort),
		"PULSE_STATE_DIR=" + filepath.Join(r.dir, "goka"), "PULSE_REFRESH_INTERVAL=20s",
	}
	defer func() {
		for _, p := range r.procs {
			p.stop()
		}
		if t.Failed() && !failedBefore {
			for name, p := range r.procs {
				b, _ := os.ReadFile(p.log)
				t.Logf("--- %s log (last 3000 bytes):\n%s", name, tail(b, 3000))
			}
			t.Logf("run %d failed: its broker data, goka state and logs are kept in %s", r.n, dir)
			return
		}
		os.RemoveAll(dir)
		// A checked run's tables go too: every ClickHouse restart loads
		// every table it has, and twenty runs' worth slowed it past its
		// start deadline on a loaded machine.
		conn := chConn(t, r.chURL)
		defer conn.Close()
		if err := conn.Exec(context.Background(), fmt.Sprintf("DROP DATABASE IF EXISTS pulse_chaos_%d", r.n)); err != nil {
			t.Errorf("run %d: dropping its ClickHouse database: %v", r.n, err)
		}
	}()
	// The broker and the simulator first; the simulator is never killed
	// (it is the platforms, and counts their limit breaches).
	r.start("broker", "broker")
	r.start("sim", "sim", "--accounts", fmt.Sprint(*accounts))
	r.waitHTTP(r.simURL + "/_sim/stats")
	r.migrate()
	r.link()
	for _, c := range []string{"api", "scheduler", "fetcher", "processor", "sink"} {
		r.start(c, c)
	}

	// Kill at random until runFor is over; meanwhile PostgreSQL is
	// restarted at a quarter of the run and ClickHouse stopped for chOutage
	// at a third (the run lasts until it is back).
	ctx, cancel := context.WithTimeout(context.Background(), *runFor)
	defer cancel()
	var engines sync.WaitGroup
	var enginesErr error
	engines.Add(1)
	go func() {
		defer engines.Done()
		time.Sleep(*runFor / 4) // the schedule of the run, not a wait for a condition
		if enginesErr = r.pg.pgctl("restart"); enginesErr != nil {
			return
		}
		time.Sleep(*runFor / 12)
		r.chs.Stop()
		time.Sleep(*chOutage)
		enginesErr = r.chs.TryStart()
	}()
	// A dashboard reads the API all along, so its answer cache holds
	// answers through every kill.
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		for sleepCtx(ctx, 250*time.Millisecond) {
			for _, q := range r.apiQueries() {
				if _, err := r.graphql(ctx, q.doc, q.vars); err == nil {
					sum.apiDuring++
				}
			}
		}
	}()
	for sleepCtx(ctx, time.Duration(1500+r.rngN(4000))*time.Millisecond) {
		c := killable[r.rngN(len(killable))]
		if c == "broker" && !*killBroker {
			continue
		}
		if r.procs[c].kill() {
			r.kills[c]++
			sum.kills[c]++
		}
	}
	engines.Wait()
	reader.Wait()
	if enginesErr != nil {
		// The harness's own engines, not Pulse: the runs cannot go on.
		t.Fatalf("run %d: restarting an engine: %v", r.n, enginesErr)
	}

	// Quiesce: no new fetch requests, then every group catches up.
	r.procs["scheduler"].stop()
	if err := r.waitCaughtUp(topics.GroupFetcher, topics.GroupNormalizer, topics.GroupSink); err != nil {
		// A failed run, not the end of the others.
		sum.stuck++
		t.Errorf("run %d: the pipeline did not catch up: %v", r.n, err)
		return
	}
	r.check(sum)
	r.checkAPI(sum)
}

// apiQuery is one of the dashboard's analytics queries.
type apiQuery struct {
	name, doc string
	vars      map[string]any
	grain     pulse.Grain // of a metrics query; "" for the feed
}

// apiQueries are the metrics at the hour and day grains over the run
// (and the days its first fetches backfilled) and the feed.
func (r *run) apiQueries() []apiQuery {
	const metrics = `query($grain: Grain!, $from: Time!, $to: Time!) { metrics(grain: $grain, from: $from, to: $to) { platform accountId points { at followers hours } } }`
	hourFrom := r.started.Truncate(time.Hour).Add(-time.Hour)
	dayFrom := r.started.Truncate(24*time.Hour).AddDate(0, 0, -30)
	end := r.started.Truncate(24*time.Hour).AddDate(0, 0, 2)
	return []apiQuery{
		{"hourly metrics", metrics, map[string]any{"grain": "HOUR", "from": hourFrom, "to": hourFrom.Add(6 * time.Hour)}, pulse.GrainHour},
		{"daily metrics", metrics, map[string]any{"grain": "DAY", "from": dayFrom, "to": end}, pulse.GrainDay},
		{"feed", `{ feed(limit: 50) { id platform likes comments } }`, nil, ""},
	}
}

// graphql runs a query as the run's user and returns its data.
func (r *run) graphql(ctx context.Context, doc string, vars map[string]any) (json.RawMessage, error) {
	body, _ := json.Marshal(map[string]any{"query": doc, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.apiURL+"/graphql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || len(out.Errors) > 0 {
		return nil, fmt.Errorf("HTTP %d: %v", resp.StatusCode, out.Errors)
	}
	return out.Data, nil
}

// checkAPI compares the API's answers, after the run, with ClickHouse's
// own: they must agree within a minute (an answer cached before a change
// and never dropped would be served for the cache's TTL, 5 minutes).
func (r *run) checkAPI(sum *summary) {
	t := r.t
	t.Helper()
	ctx := context.Background()
	db, err := clickhouse.Open(ctx, r.chURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	type point struct {
		Platform, AccountID string
		At                  time.Time
		Followers, Hours    int64
	}
	for _, q := range r.apiQueries() {
		var want []point
		var wantFeed []string
		if q.grain != "" {
			ps, err := db.Series(ctx, pulse.SeriesQuery{UserID: r.userID, Grain: q.grain, From: q.vars["from"].(time.Time), To: q.vars["to"].(time.Time)})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				want = append(want, point{strings.ToUpper(p.Platform), p.AccountID, p.Bucket.UTC(), p.Followers, int64(p.Hours)})
			}
		} else {
			rows, err := db.Feed(ctx, pulse.FeedQuery{UserID: r.userID, Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range rows {
				wantFeed = append(wantFeed, fmt.Sprintf("%s/%s/%d/%d", strings.ToUpper(p.Platform), p.PostID, p.Likes, p.Comments))
			}
		}
		if len(want) == 0 && len(wantFeed) == 0 {
			t.Errorf("run %d: ClickHouse answers nothing to the %s: nothing to compare", r.n, q.name)
			continue
		}
		var got []point
		var gotFeed []string
		deadline := time.Now().Add(time.Minute)
		for {
			data, err := r.graphql(ctx, q.doc, q.vars)
			got, gotFeed = nil, nil
			if err == nil {
				var out struct {
					Metrics []struct {
						Platform, AccountID string
						Points              []struct {
							At               time.Time
							Followers, Hours int64
						}
					}
					Feed []struct {
						ID, Platform    string
						Likes, Comments int64
					}
				}
				if err = json.Unmarshal(data, &out); err == nil {
					for _, s := range out.Metrics {
						for _, p := range s.Points {
							got = append(got, point{s.Platform, s.AccountID, p.At.UTC(), p.Followers, p.Hours})
						}
					}
					for _, p := range out.Feed {
						gotFeed = append(gotFeed, fmt.Sprintf("%s/%s/%d/%d", p.Platform, p.ID, p.Likes, p.Comments))
					}
				}
			}
			if err == nil && reflect.DeepEqual(got, want) && slices.Equal(gotFeed, wantFeed) {
				break
			}
			if time.Now().After(deadline) {
				sum.apiStale++
				t.Errorf("run %d: the API's %s still differs from ClickHouse's a minute after the run (%v): %d points / %d posts, ClickHouse %d / %d",
					r.n, q.name, err, len(got), len(gotFeed), len(want), len(wantFeed))
				break
			}
			time.Sleep(500 * time.Millisecond) // polling the API until it agrees or the deadline passes
		}
		sum.apiChecked++
	}
}

func (r *run) start(name string, args ...string) {
	// Each component is one process, restarted under the same static
	// group instance ID, as a pod's container is after a crash: the
	// restart takes its partitions back at once, and a process killed
	// while joining leaves no member behind (kfake keeps such dynamic
	// members assigned, and the group stalls; see deploy/README.md).
	env := append(slices.Clone(r.env), "PULSE_GROUP_INSTANCE_ID=chaos-"+name)
	p := &proc{name: name, args: args, env: env, log: filepath.Join(r.dir, name+".log")}
	r.procs[name] = p
	p.start(r)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (r *run) waitHTTP(url string) {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s did not answer within 60s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// migrate runs `pulse migrate` to completion.
func (r *run) migrate() {
	r.t.Helper()
	cmd := exec.Command(r.bin, "migrate")
	cmd.Env = append(os.Environ(), r.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("pulse migrate: %v\n%s", err, out)
	}
}

// link creates a user and links accounts on X, Facebook and Instagram with
// tokens the simulator issued.
func (r *run) link() {
	t := r.t
	t.Helper()
	ctx := context.Background()
	kr, err := vault.ParseKeyring(r.envValue("PULSE_MASTER_KEYS"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, r.pgURL, postgres.WithKeyWrapper(kr))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.CreateUser(ctx, "chaos@pulse.local", "chaos-password-1")
	if err != nil {
		t.Fatal(err)
	}
	r.userID = u.ID
	if r.token, err = db.CreateSession(ctx, u.ID, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	var list map[string][]struct {
		ID     string `json:"id"`
		Handle string `json:"handle"`
	}
	resp, err := http.Get(r.simURL + "/_sim/accounts")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/_sim/accounts: %v", err)
	}
	for _, p := range []topics.Platform{topics.X, topics.Facebook, topics.Instagram} {
		if len(list[string(p)]) < *accounts {
			t.Fatalf("simulator lists %d %s accounts, want %d", len(list[string(p)]), p, *accounts)
		}
		for _, a := range list[string(p)][:*accounts] {
			body, _ := json.Marshal(map[string]string{"platform": string(p), "account_id": a.ID})
			resp, err := http.Post(r.simURL+"/_sim/tokens", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var tok struct {
				AccessToken  string    `json:"access_token"`
				RefreshToken string    `json:"refresh_token"`
				ExpiresAt    time.Time `json:"expires_at"`
			}
			err = json.NewDecoder(resp.Body).Decode(&tok)
			resp.Body.Close()
			if err != nil || tok.AccessToken == "" {
				t.Fatalf("/_sim/tokens %s %s: %v", p, a.ID, err)
			}
			if _, err := db.UpsertLink(ctx, u.ID, p, a.ID, a.Handle, &oauth2.Token{AccessToken: tok.AccessToken,
				RefreshToken: tok.RefreshToken, TokenType: "bearer", Expiry: tok.ExpiresAt}, "chaos"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func (r *run) envValue(name string) string {
	for _, kv := range r.env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// waitCaughtUp waits until each group has members and no lag, one after
// the other (each feeds the next).
func (r *run) waitCaughtUp(groups ...string) error {
	t := r.t
	t.Helper()
	adm, err := kafka.NewAdmin(r.brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	// A group fails to catch up when its lag has not shrunk for 5 minutes
	// (on a loaded machine a big backlog takes longer than that to drain,
	// but never stands still), or after 20 minutes in all.
	for _, g := range groups {
		start := time.Now()
		progress, best := start, int64(-1)
		for ok := 0; ok < 3; { // three readings in a row: nothing in flight
			lag, members, err := adm.Lag(context.Background(), g)
			if err == nil && lag == 0 && members > 0 {
				ok++
			} else {
				ok = 0
			}
			if err == nil && (best < 0 || lag < best) {
				best, progress = lag, time.Now()
			}
			if time.Since(progress) > 5*time.Minute || time.Since(start) > 20*time.Minute {
				ms, state, merr := adm.Members(context.Background(), g)
				return fmt.Errorf("group %s: lag %d, %d members, err %v after %s (the lag last shrank %s ago); %s members %+v %v",
					g, lag, members, err, time.Since(start).Round(time.Second), time.Since(progress).Round(time.Second), state, ms, merr)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	return nil
}

type hourKey struct {
	user, platform, account string
	hour                    time.Time
}

type postKey struct {
	user, platform, post string
	hour                 time.Time
}

// check compares ClickHouse with what the raw-payload topic says must be
// there.
func (r *run) check(sum *summary) {
	t := r.t
	t.Helper()
	ctx := context.Background()
	// Expected: every raw payload published, normalized as the processor
	// does; per hour the newest observation wins.
	parsers := map[topics.Platform]normalizer.Parser{}
	for _, p := range []topics.Platform{topics.X, topics.Facebook, topics.Instagram} {
		c, err := platforms.New(p, platforms.Config{BaseURL: r.simURL})
		if err != nil {
			t.Fatal(err)
		}
		parsers[p] = c
	}
	wantHours := map[hourKey]topics.AccountSnapshot{}
	// ties: hours whose newest version was published with more than one
	// follower count (no single expected value).
	ties := map[hourKey]map[int64]bool{}
	from := map[hourKey]string{}
	wantPosts := map[postKey]int64{}
	for _, rec := range r.readTopic(topics.RawPayloads) {
		snap, history, posts, err := normalizer.Normalize(parsers, rec.Value)
		if err != nil {
			continue // dead-lettered, not expected in ClickHouse
		}
		// A first fetch also backfills past days (Facebook, Instagram):
		// those snapshots are expected too, each at its own hour.
		for _, s := range append(history, *snap) {
			k := hourKey{s.UserID, string(s.Platform), s.AccountID, s.Hour.UTC()}
			old, ok := wantHours[k]
			switch {
			case !ok || s.Version > old.Version:
				wantHours[k] = s
				delete(ties, k)
				from[k] = fmt.Sprintf("raw payload p%d@%d (fetched %s, history %v)", rec.Partition, rec.Offset, snap.ObservedAt.Format(time.RFC3339Nano), s.History)
			case s.Version == old.Version && s.Followers != old.Followers:
				if ties[k] == nil {
					ties[k] = map[int64]bool{old.Followers: true}
				}
				ties[k][s.Followers] = true
				from[k] += fmt.Sprintf("; tie: %d followers from p%d@%d (fetched %s)", s.Followers, rec.Partition, rec.Offset, snap.ObservedAt.Format(time.RFC3339Nano))
			}
		}
		for _, p := range posts {
			pk := postKey{p.UserID, string(p.Platform), p.PostID, p.ObservedAt.UTC().Truncate(time.Hour)}
			wantPosts[pk] = max(wantPosts[pk], p.Version)
		}
	}
	if len(wantHours) == 0 {
		t.Fatal("no raw payload was published: the run fetched nothing")
	}
	conn := chConn(t, r.chURL)
	defer conn.Close()
	// Found: each identity once after deduplication, with the newest
	// observation's values.
	rows, err := conn.Query(ctx, `SELECT user_id, platform, account_id, hour, count(), argMax(followers, version), max(version)
		FROM account_metrics_hourly FINAL GROUP BY user_id, platform, account_id, hour`)
	if err != nil {
		t.Fatal(err)
	}
	found := map[hourKey]bool{}
	var dup, wrong, extra int
	for rows.Next() {
		var k hourKey
		var n uint64
		var followers int64
		var version uint64
		if err := rows.Scan(&k.user, &k.platform, &k.account, &k.hour, &n, &followers, &version); err != nil {
			t.Fatal(err)
		}
		k.hour = k.hour.UTC()
		found[k] = true
		if n > 1 {
			dup++
		}
		want, ok := wantHours[k]
		switch {
		case !ok:
			extra++
			t.Logf("run %d: unexpected hourly row %+v: %d followers, version %d", r.n, k, followers, version)
		case want.Followers != followers || uint64(want.Version) != version:
			wrong++
			t.Logf("run %d: hourly row %+v holds %d followers at version %d; expected %d at version %d from %s",
				r.n, k, followers, version, want.Followers, want.Version, from[k])
		}
	}
	rows.Close()
	missing := 0
	for k := range wantHours {
		if !found[k] {
			missing++
		}
	}
	var postsFound uint64
	if err := conn.QueryRow(ctx, `SELECT count() FROM (SELECT DISTINCT user_id, platform, post_id, hour FROM posts)`).Scan(&postsFound); err != nil {
		t.Fatal(err)
	}
	// Rollups: every daily, monthly and yearly bucket equal to a
	// recomputation from the deduplicated hourly rows.
	checked, mismatched := 0, 0
	for _, g := range []struct{ table, col, fn string }{
		{"account_metrics_daily", "day", "toDate"},
		{"account_metrics_monthly", "month", "toStartOfMonth"},
		{"account_metrics_yearly", "year", "toStartOfYear"},
	} {
		var n, bad uint64
		q := fmt.Sprintf(`SELECT %[4]s
FROM (
    SELECT user_id, platform, account_id, %[2]s AS b, argMax(followers, version) AS followers, argMax(followers_min, version) AS fmin,
           argMax(followers_max, version) AS fmax, argMax(followers_sum, version) AS fsum, argMax(hours, version) AS hours
    FROM %[1]s GROUP BY user_id, platform, account_id, b
) AS r ALL FULL OUTER JOIN (
    SELECT user_id, platform, account_id, %[3]s(hour) AS b, argMax(f, hour) AS followers, min(f) AS fmin, max(f) AS fmax,
           sum(f) AS fsum, toUInt64(count()) AS hours
    FROM (SELECT user_id, platform, account_id, hour, argMax(followers, version) AS f
          FROM account_metrics_hourly GROUP BY user_id, platform, account_id, hour)
    GROUP BY user_id, platform, account_id, b
) AS h USING (user_id, platform, account_id, b)`, g.table, g.col, g.fn, "%s")
		const differ = "r.followers != h.followers OR r.fmin != h.fmin OR r.fmax != h.fmax OR r.fsum != h.fsum OR r.hours != h.hours"
		if err := conn.QueryRow(ctx, fmt.Sprintf(q, "count(), countIf("+differ+")")).Scan(&n, &bad); err != nil {
			t.Fatalf("%s: %v", g.table, err)
		}
		if bad > 0 {
			r.logRows(conn, g.table+" bucket differing from a recomputation (rollup | recomputed)", fmt.Sprintf(q,
				"platform, account_id, toString(b), r.followers, r.fmin, r.fmax, r.fsum, r.hours, '|', h.followers, h.fmin, h.fmax, h.fsum, h.hours")+
				" WHERE "+differ+" LIMIT 10")
		}
		checked += int(n)
		mismatched += int(bad)
	}
	if len(ties) > 0 {
		n := 0
		for k, v := range ties {
			if n++; n <= 5 {
				t.Logf("run %d: hour %+v: its newest version %d was published with %d follower counts: %s", r.n, k, wantHours[k].Version, len(v), from[k])
			}
		}
	}
	breaches := r.breaches()
	t.Logf("run %d: kills %v; hourly rows expected %d, found %d, duplicated %d, missing %d, wrong %d, unexpected %d; "+
		"post observations expected %d, found %d; rollup buckets %d, mismatched %d; limit breaches %d; hours whose newest version has several values %d",
		r.n, r.kills, len(wantHours), len(found), dup, missing, wrong, extra, len(wantPosts), postsFound, checked, mismatched, breaches, len(ties))
	sum.expected += len(wantHours)
	sum.found += len(found)
	sum.duplicated += dup
	sum.missing += missing
	sum.wrong += wrong + extra
	sum.postsExpected += len(wantPosts)
	sum.postsFound += int(postsFound)
	sum.postsMissed += max(0, len(wantPosts)-int(postsFound))
	sum.rollupsChecked += checked
	sum.rollupMismatch += mismatched
	sum.breaches += breaches
	if dup != 0 || missing != 0 || wrong != 0 || extra != 0 || mismatched != 0 || breaches != 0 || int(postsFound) != len(wantPosts) {
		t.Errorf("run %d: ClickHouse does not hold every observation exactly once, or a rollup or limit is off (see above)", r.n)
	}
}

// logRows logs up to 10 rows of query q, each column as text.
func (r *run) logRows(conn ch.Conn, what, q string) {
	rows, err := conn.Query(context.Background(), q)
	if err != nil {
		r.t.Logf("run %d: %s: %v", r.n, what, err)
		return
	}
	defer rows.Close()
	cols := rows.ColumnTypes()
	for rows.Next() {
		vals := make([]any, len(cols))
		for i, c := range cols {
			vals[i] = reflect.New(c.ScanType()).Interface()
		}
		if err := rows.Scan(vals...); err != nil {
			r.t.Logf("run %d: %s: %v", r.n, what, err)
			return
		}
		var b strings.Builder
		for _, v := range vals {
			fmt.Fprintf(&b, " %v", reflect.ValueOf(v).Elem().Interface())
		}
		r.t.Logf("run %d: %s:%s", r.n, what, b.String())
	}
}

// readTopic returns every record of topic.
func (r *run) readTopic(topic string) []*kgo.Record {
	t := r.t
	t.Helper()
	adm, err := kafka.NewAdmin(r.brokers)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.EndOffsets(context.Background(), topic)
	adm.Close()
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, e := range ends {
		want += e
	}
	cl, err := kafka.NewClient(r.brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out []*kgo.Record
	for int64(len(out)) < want {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", len(out), want, topic)
		}
		out = append(out, f.Records()...)
	}
	return out
}

func (r *run) breaches() int64 {
	resp, err := http.Get(r.simURL + "/_sim/stats")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Platforms map[string]struct {
			LimitBreaches int64 `json:"limit_breaches"`
		} `json:"platforms"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		r.t.Fatal(err)
	}
	var n int64
	names := make([]string, 0, len(st.Platforms))
	for p := range st.Platforms {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		n += st.Platforms[p].LimitBreaches
	}
	return n
}

func chConn(t *testing.T, url string) ch.Conn {
	t.Helper()
	opts, err := ch.ParseDSN(url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ch.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}
