package x

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pulsehq/pulse/platforms"
)

// X's rate-limit headers, sent on every API response of a rate-limited
// endpoint: the window's size in calls, the calls left, and the window's
// reset in Unix seconds.
const (
	headerLimit     = "X-Rate-Limit-Limit"
	headerRemaining = "X-Rate-Limit-Remaining"
	headerReset     = "X-Rate-Limit-Reset"
)

// parseRateLimit reads X's rate-limit headers. Missing or invalid values are
// left unknown; ok reports whether any value was read. X does not report a
// usage percentage, so UsagePct is always -1.
func parseRateLimit(h http.Header) (rl platforms.RateLimit, ok bool) {
	rl = platforms.Unknown()
	if n, err := strconv.Atoi(strings.TrimSpace(h.Get(headerLimit))); err == nil && n >= 0 {
		rl.Limit, ok = n, true
	}
	if n, err := strconv.Atoi(strings.TrimSpace(h.Get(headerRemaining))); err == nil && n >= 0 {
		rl.Remaining, ok = n, true
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(h.Get(headerReset)), 10, 64); err == nil && n > 0 {
		rl.Reset, ok = time.Unix(n, 0), true
	}
	return rl, ok
}
