package meta

import (
	"testing"

	"github.com/pulsehq/pulse/topics"
)

func TestThrottleScope(t *testing.T) {
	for code, want := range map[int]string{
		4: topics.LimitScopeApp, 341: topics.LimitScopeApp, 613: topics.LimitScopeApp,
		17: topics.LimitScopeAccount, 32: topics.LimitScopeAccount, 80001: topics.LimitScopeAccount,
		80002: topics.LimitScopeAccount, 190: "", 1: "",
	} {
		if got := ThrottleScope(code); got != want {
			t.Errorf("ThrottleScope(%d) = %q, want %q", code, got, want)
		}
	}
}
