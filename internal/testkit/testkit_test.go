package testkit_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pulsehq/pulse/internal/testkit"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

func TestEventuallyReturnsOnceFnSucceeds(t *testing.T) {
	calls := 0
	testkit.Eventually(t, time.Minute, func() error {
		calls++
		if calls < 3 {
			return fmt.Errorf("call %d", calls)
		}
		return nil
	})
	if calls != 3 {
		t.Fatalf("fn called %d times, want 3", calls)
	}
}

// recorder is a testing.TB that records a Fatalf instead of failing.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r) // stop the caller like FailNow's Goexit would
}

func TestEventuallyFailsWithTheLastError(t *testing.T) {
	r := &recorder{TB: t}
	calls := 0
	func() {
		defer func() {
			if p := recover(); p != nil && p != r {
				panic(p)
			}
		}()
		testkit.Eventually(r, 50*time.Millisecond, func() error {
			calls++
			return errors.New("still " + fmt.Sprint(calls))
		})
	}()
	if r.failed == "" {
		t.Fatal("Eventually returned although fn never succeeded")
	}
	if want := fmt.Sprintf("still %d", calls); calls < 2 || r.failed != "not within 50ms: "+want {
		t.Fatalf("failure %q after %d calls", r.failed, calls)
	}
}

func TestVerifyNoneSeesALeak(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); <-stop }()
	r := &leakRecorder{TB: t}
	testkit.VerifyNone(r)
	close(stop)
	<-done
	if !r.errored {
		t.Fatal("VerifyNone did not report a running goroutine")
	}
	testkit.VerifyNone(t)
}

type leakRecorder struct {
	testing.TB
	errored bool
}

func (r *leakRecorder) Helper()               {}
func (r *leakRecorder) Error(args ...any)     { r.errored = true }
func (r *leakRecorder) Errorf(string, ...any) { r.errored = true }
