package linkedin

import (
	"testing"

	"github.com/pulsehq/pulse/topics"
)

func TestThrottleScope(t *testing.T) {
	for msg, want := range map[string]string{
		"Resource level throttle APPLICATION DAY limit for calls to this resource is reached.": topics.LimitScopeApp,
		"Resource level throttle MEMBER DAY limit for calls to this resource is reached.":      topics.LimitScopeAccount,
		"Too Many Requests": "",
	} {
		if got := ThrottleScope(msg); got != want {
			t.Errorf("ThrottleScope(%q) = %q, want %q", msg, got, want)
		}
	}
}
