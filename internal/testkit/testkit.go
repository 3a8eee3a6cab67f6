// Package testkit holds what every package's tests share: one goleak set-up
// with the single list of goroutines that are not leaks, and one Eventually
// for conditions reached asynchronously. Only tests import it.
package testkit

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// leakIgnores are the goroutines that outlive a test by design, not by a
// leak in Pulse. Keep every exception here, with its reason.
func leakIgnores() []goleak.Option {
	return []goleak.Option{
		// clickhouse-go's pool closes idle connections on a ticker until
		// the pool's Close returns, a moment after it was called.
		goleak.IgnoreAnyFunction("github.com/ClickHouse/clickhouse-go/v2.(*clickhouse).startAutoCloseIdleConnections"),
		// sarama's package-level metrics registry (used by goka) runs a
		// meter arbiter for the life of the process.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		// goka's tester keeps one consumer loop per tester, ended by the
		// process exit.
		goleak.IgnoreTopFunction("github.com/lovoo/goka/tester.(*consumerGroup).Consume.func1"),
		// A goka processor stopped while its table partitions are still
		// opening can leave LevelDB's memory-pool drainer of those
		// partitions running (seen only under -race, in the assembly's
		// metrics tests, where processors with a data dir start and stop
		// within seconds; not yet root-caused, so not claimed to be goka's
		// fault alone). TODO: find the unclosed storage and drop this.
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
		// A sarama broker connection's response reader (sarama is goka's
		// Kafka client; Pulse's own clients are franz-go) outlived the e2e
		// package once under -race at load 19. goka v1.1.17's NewView
		// creates a sarama consumer that nothing ever closes (view.go keeps
		// it in View.consumer; neither Run nor close calls its Close), so
		// its connections end only when sarama drops them after the broker
		// goes away, which is usually, not always, before this check.
		// TODO: close it ourselves if goka exposes it, or upstream a fix.
		goleak.IgnoreTopFunction("github.com/IBM/sarama.(*Broker).responseReceiver"),
	}
}

// WrapTestMain runs m's tests, then fails the package if goroutines other
// than the shared exceptions are still running. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testkit.WrapTestMain(m) }
func WrapTestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakIgnores()...)
}

// VerifyNone fails t if goroutines other than the shared exceptions are
// running, for a test that checks a component stops cleanly.
func VerifyNone(t testing.TB) {
	t.Helper()
	goleak.VerifyNone(t, leakIgnores()...)
}

// poll is how often Eventually retries.
const poll = 20 * time.Millisecond

// Eventually calls fn until it returns nil, and fails t (FailNow) with fn's
// last error if timeout passes first. fn runs at least once, on the
// calling goroutine; a wait between attempts is short (20ms), so fn should
// be cheap or bound its own work.
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", timeout, err)
		}
		time.Sleep(poll)
	}
}
