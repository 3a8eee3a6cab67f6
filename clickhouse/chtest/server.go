// Package chtest gives tests a ClickHouse database of their own, and a
// private ClickHouse server for tests that stop and start one. Only tests
// import it: it links package testing, which the pulse binary must not.
package chtest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a ClickHouse server process owned by one test, with its own
// configuration, data directory (under the test's TempDir) and ports, so a
// test can stop and start it (an outage) without disturbing the shared
// server other tests use. It is written like scripts/clickhouse.sh.
type Server struct {
	tb       testing.TB
	dir      string
	bin      string
	tcpPort  int
	httpPort int

	mu   sync.Mutex // guards proc
	proc *serverProc
}

// serverBinary finds clickhouse-server.
func serverBinary() (string, error) {
	if p, err := exec.LookPath("clickhouse-server"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("clickhouse-server not found")
}

// StartServer starts a private ClickHouse server and stops it when the
// test ends. It skips the test when clickhouse-server is not installed,
// except under CI=true, where that is a failure.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	bin, err := serverBinary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("chtest: %v (scripts/clickhouse.sh install)", err)
		}
		tb.Skipf("chtest: %v; install it with scripts/clickhouse.sh install", err)
	}
	s := &Server{tb: tb, dir: tb.TempDir(), bin: bin}
	if s.tcpPort, err = freePort(); err == nil {
		s.httpPort, err = freePort()
	}
	if err != nil {
		tb.Fatalf("chtest: test server: %v", err)
	}
	if err := s.writeConfig(); err != nil {
		tb.Fatalf("chtest: test server: %v", err)
	}
	s.Start()
	tb.Cleanup(s.Stop)
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL returns the native-protocol URL of database on this server.
func (s *Server) URL(database string) string {
	return fmt.Sprintf("clickhouse://127.0.0.1:%d/%s", s.tcpPort, database)
}

// Start starts the server (again, on the same data and ports) and waits
// until it answers. It fails the test if the server does not come up
// within StartTimeout. Starting a running server does nothing. Call it
// from the test's goroutine; elsewhere, use TryStart.
func (s *Server) Start() {
	s.tb.Helper()
	if err := s.TryStart(); err != nil {
		s.tb.Fatal(err)
	}
}

// StartTimeout bounds how long TryStart waits for the server to answer:
// a restart loads every table of every database, and on a loaded
// two-core machine 18.16 has taken over 30 s.
const StartTimeout = 2 * time.Minute

// TryStart is Start returning what went wrong instead of failing the
// test, for goroutines other than the test's.
func (s *Server) TryStart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return nil
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "log", "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("chtest: test server: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, "--config-file="+filepath.Join(s.dir, "config.xml"))
	cmd.Stdout, cmd.Stderr, cmd.Dir = logf, logf, s.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("chtest: test server: start: %w", err)
	}
	p := &serverProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	deadline := time.Now().Add(StartTimeout)
	for !s.ping() {
		select {
		case <-p.done:
			return fmt.Errorf("chtest: test server exited at start: %v\n%s", p.err, s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("chtest: test server did not answer within %v\n%s", StartTimeout, s.logTail())
		}
	}
	s.proc = p
	return nil
}

// serverProc is one run of the server process.
type serverProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

// Stop stops the server with SIGTERM (SIGKILL after 30s) and waits for it
// to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	s.proc = nil
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (s *Server) ping() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/ping", s.httpPort))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (s *Server) logTail() string {
	var out strings.Builder
	for _, f := range []string{"stdout.log", "clickhouse-server.err.log"} {
		b, _ := os.ReadFile(filepath.Join(s.dir, "log", f))
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		fmt.Fprintf(&out, "--- %s\n%s\n", f, b)
	}
	return out.String()
}

func (s *Server) writeConfig() error {
	for _, d := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			return err
		}
	}
	config := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>%[1]s/log/clickhouse-server.log</log>
        <errorlog>%[1]s/log/clickhouse-server.err.log</errorlog>
        <size>10M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>%[2]d</tcp_port>
    <http_port>%[3]d</http_port>
    <max_connections>256</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>50</max_concurrent_queries>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <mark_cache_size>67108864</mark_cache_size>
    <path>%[1]s/data/</path>
    <tmp_path>%[1]s/tmp/</tmp_path>
    <user_files_path>%[1]s/user_files/</user_files_path>
    <format_schema_path>%[1]s/format_schemas/</format_schema_path>
    <users_config>%[1]s/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
`, s.dir, s.tcpPort, s.httpPort)
	users := `<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
`
	if err := os.WriteFile(filepath.Join(s.dir, "config.xml"), []byte(config), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.dir, "users.xml"), []byte(users), 0o644)
}
