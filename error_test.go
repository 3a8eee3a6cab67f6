package pulse_test

import (
	"errors"
	"fmt"
	"testing"

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
	for _, l := range []pulse.LoginLimits{{}, {Window: 1, PerAccount: 1}, {Window: 1, PerClient: 1}, {PerAccount: 1, PerClient: 1}} {
		if err := l.Validate(); pulse.ErrorCode(err) != pulse.EINVALID {
			t.Errorf("%+v: %v", l, err)
		}
	}
}
