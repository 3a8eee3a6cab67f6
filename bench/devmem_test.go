package bench_test

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pulsehq/pulse/clickhouse/chtest"
)

var (
	devAccounts  = flag.Int("dev-accounts", 2500, "BenchmarkDevMemory: --demo-accounts (per platform; × 4 platforms)")
	devFor       = flag.Duration("dev-duration", 10*time.Minute, "BenchmarkDevMemory: how long pulse dev fetches before the last RSS reading")
	devProfiles  = flag.String("dev-heap-profiles", "", "BenchmarkDevMemory: a directory to save pulse dev's heap profiles in (heap-<minutes>m.pprof, every -dev-profile-every and at the end, from its admin listener's /debug/pprof/heap)")
	devProfEvery = flag.Duration("dev-profile-every", 10*time.Minute, "BenchmarkDevMemory: how often -dev-heap-profiles takes one")
)

// adminURL finds the admin listener's URL in pulse dev's log ("metrics:
// <url>/metrics").
func adminURL(log []byte) string {
	for _, line := range strings.Split(string(log), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "metrics:"); ok {
			if u, _, ok := strings.Cut(strings.TrimSpace(v), "/metrics"); ok {
				return u
			}
		}
	}
	return ""
}

// saveHeapProfile saves the heap profile of the pulse dev whose admin
// listener is at admin to dir/heap-<minutes>m.pprof (a garbage collection
// first: gc=1, so it shows the live heap).
func saveHeapProfile(b *testing.B, admin, dir string, at time.Duration) {
	if admin == "" {
		b.Log("heap profile: no admin URL in pulse dev's log")
		return
	}
	resp, err := http.Get(admin + "/debug/pprof/heap?gc=1")
	if err != nil {
		b.Logf("heap profile: %v", err)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Logf("heap profile: %s %v", resp.Status, err)
		return
	}
	path := filepath.Join(dir, fmt.Sprintf("heap-%dm.pprof", int(at.Minutes())))
	if err := os.WriteFile(path, body, 0o644); err != nil {
		b.Logf("heap profile: %v", err)
	}
}

// rssMB reads a process's resident set size.
func rssMB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// BenchmarkDevMemory runs the real `pulse dev` (embedded broker, simulator,
// every component) with -dev-accounts simulated accounts linked per
// platform, lets it fetch for -dev-duration in real time, and reports its
// peak resident set size and its last reading before it is stopped
// (end-rss-MB); the baseline is its RSS once the accounts are
// linked and the components started (the first reading after "Pulse is
// running").
func BenchmarkDevMemory(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "pulse")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/pulse").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	chURL := chtest.URL(b)
	chtest.MustOpenURL(b, chURL)
	pgDB := fmt.Sprintf("pulse_bench_dev_%d", time.Now().UnixNano())
	b.Cleanup(func() {
		exec.Command("psql", "-h", "127.0.0.1", "-U", "postgres", "-c", "DROP DATABASE IF EXISTS "+pgDB+" WITH (FORCE)").Run()
	})
	for range b.N {
		logPath := filepath.Join(dir, "dev.log")
		logf, err := os.Create(logPath)
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(bin, "dev", "--demo-accounts", strconv.Itoa(*devAccounts), "--http-addr", "127.0.0.1:0",
			"--broker-port", "0", "--admin-addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
			"--postgres-url", "postgres://postgres@127.0.0.1:5432/"+pgDB+"?sslmode=disable", "--clickhouse-url", chURL)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		// Started: "Pulse is running." in the log.
		deadline := time.Now().Add(15 * time.Minute)
		for {
			out, _ := os.ReadFile(logPath)
			if bytes.Contains(out, []byte("Pulse is running.")) {
				break
			}
			if time.Now().After(deadline) || cmd.ProcessState != nil {
				cmd.Process.Kill()
				cmd.Wait()
				b.Fatalf("pulse dev did not start:\n%s", tail(out, 3000))
			}
			time.Sleep(time.Second)
		}
		idle, err := rssMB(cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		var admin string
		if *devProfiles != "" {
			if err := os.MkdirAll(*devProfiles, 0o755); err != nil {
				b.Fatal(err)
			}
			out, _ := os.ReadFile(logPath)
			admin = adminURL(out)
		}
		peak, last := idle, idle
		start := time.Now()
		end, nextProfile, nextLog := start.Add(*devFor), start.Add(*devProfEvery), start.Add(time.Minute)
		for time.Now().Before(end) {
			time.Sleep(5 * time.Second)
			v, err := rssMB(cmd.Process.Pid)
			if err != nil {
				out, _ := os.ReadFile(logPath)
				b.Fatalf("pulse dev exited: %v\n%s", err, tail(out, 3000))
			}
			peak, last = max(peak, v), v
			if *devProfiles != "" && time.Now().After(nextProfile) {
				saveHeapProfile(b, admin, *devProfiles, time.Since(start))
				nextProfile = nextProfile.Add(*devProfEvery)
			}
			if *devProfiles != "" && time.Now().After(nextLog) {
				fmt.Fprintf(os.Stderr, "pulse dev after %s: RSS %.0f MB (peak %.0f MB)\n", time.Since(start).Round(time.Second), v, peak)
				nextLog = nextLog.Add(time.Minute)
			}
		}
		if *devProfiles != "" {
			saveHeapProfile(b, admin, *devProfiles, time.Since(start))
		}
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		logf.Close()
		// Proof that it fetched: the hourly rows the sink wrote.
		conn := bareConn(b, chURL)
		var rows uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM account_metrics_hourly").Scan(&rows); err != nil {
			b.Fatal(err)
		}
		conn.Close()
		if rows == 0 {
			b.Fatal("pulse dev wrote no hourly rows: it did not fetch")
		}
		b.ReportMetric(float64(rows), "hourly-rows")
		b.ReportMetric(peak, "rss-MB")
		b.ReportMetric(idle, "idle-rss-MB")
		b.ReportMetric(last, "end-rss-MB")
		b.ReportMetric(float64(*devAccounts*4), "accounts")
		b.ReportMetric(devFor.Minutes(), "minutes")
	}
	b.ReportMetric(0, "ns/op")
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
