package pulse_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/internal/testkit"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

func TestErrorCodesThroughWrapping(t *testing.T) {
	for _, tc := range []struct {
		err      error
		code     string
		sentinel error
		message  string
	}{
		{nil, "", nil, ""},
		{errors.New("boom at 10.0.0.3"), pulse.EINTERNAL, nil, "internal error"},
		{pulse.Errorf(pulse.ENOTFOUND, "op", "link not found"), pulse.ENOTFOUND, pulse.ErrNotFound, "link not found"},
		{fmt.Errorf("wrapped: %w", pulse.Errorf(pulse.ECONFLICT, "op", "email taken")), pulse.ECONFLICT, pulse.ErrConflict, "email taken"},
		{pulse.Errorf(pulse.EINVALID, "", "bad"), pulse.EINVALID, pulse.ErrInvalid, "bad"},
		{pulse.Errorf(pulse.EUNAUTHORIZED, "op", "no session"), pulse.EUNAUTHORIZED, pulse.ErrUnauthorized, "no session"},
		{pulse.Errorf(pulse.ETHROTTLED, "op", "slow down"), pulse.ETHROTTLED, pulse.ErrThrottled, "slow down"},
		{pulse.Errorf(pulse.EUNAVAILABLE, "op", "dial 10.0.0.3: refused"), pulse.EUNAVAILABLE, pulse.ErrUnavailable, "temporarily unavailable"},
		{pulse.Errorf(pulse.EINTERNAL, "op", "connection reset by 10.0.0.3"), pulse.EINTERNAL, pulse.ErrInternal, "internal error"},
		{pulse.ErrNotFound, pulse.ENOTFOUND, pulse.ErrNotFound, "not found"},
	} {
		if got := pulse.ErrorCode(tc.err); got != tc.code {
			t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.code)
		}
		if tc.sentinel != nil && !errors.Is(tc.err, tc.sentinel) {
			t.Errorf("errors.Is(%v, %v) = false", tc.err, tc.sentinel)
		}
		if got := pulse.ErrorMessage(tc.err); got != tc.message {
			t.Errorf("ErrorMessage(%v) = %q, want %q", tc.err, got, tc.message)
		}
	}
	if errors.Is(pulse.Errorf(pulse.ENOTFOUND, "op", "x"), pulse.ErrConflict) {
		t.Error("a not-found error matches ErrConflict")
	}
	var e *pulse.Error
	if !errors.As(fmt.Errorf("ctx: %w", pulse.Errorf(pulse.EINVALID, "postgres.Op", "bad")), &e) || e.Op != "postgres.Op" || e.Error() != "postgres.Op: bad" {
		t.Errorf("errors.As = %+v", e)
	}
}

func TestLoginLimitsValidate(t *testing.T) {
	if err := pulse.DefaultLoginLimits.Validate(); err != nil {
		t.Fatal(err)
	}
	ok := pulse.LoginLimits{Window: time.Minute, FreeFailures: 0, Backoff: time.Second, MaxBackoff: time.Second, PerClient: 1}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, change := range []func(*pulse.LoginLimits){
		func(l *pulse.LoginLimits) { *l = pulse.LoginLimits{} },
		func(l *pulse.LoginLimits) { l.Window = 0 },
		func(l *pulse.LoginLimits) { l.FreeFailures = -1 },
		func(l *pulse.LoginLimits) { l.Backoff = 0 },
		func(l *pulse.LoginLimits) { l.MaxBackoff = l.Backoff / 2 },
		func(l *pulse.LoginLimits) { l.PerClient = 0 },
	} {
		l := ok
		change(&l)
		if err := l.Validate(); pulse.ErrorCode(err) != pulse.EINVALID {
			t.Errorf("%+v: %v", l, err)
		}
	}
}

// TestLoginLimitsDelay: free failures, then the backoff doubling per
// failure up to its cap.
func TestLoginLimitsDelay(t *testing.T) {
	l := pulse.LoginLimits{Window: time.Hour, FreeFailures: 2, Backoff: time.Second, MaxBackoff: 10 * time.Second, PerClient: 1}
	for failures, want := range []time.Duration{0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		if got := l.Delay(failures); got != want {
			t.Errorf("Delay(%d) = %v, want %v", failures, got, want)
		}
	}
	if got := l.Delay(1000); got != 10*time.Second {
		t.Errorf("Delay(1000) = %v, want the cap", got)
	}
}
