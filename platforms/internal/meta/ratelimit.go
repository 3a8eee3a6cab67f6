package meta

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/topics"
)

// Meta's rate-limit headers. X-App-Usage (and the legacy X-Page-Usage)
// hold {"call_count","total_cputime","total_time"}: percentages of the
// app's (Page's) hourly allowance used. X-Business-Use-Case-Usage maps
// each business object id to a list of such objects, with a "type"
// ("pages", "instagram", ...) and estimated_time_to_regain_access, in
// minutes, once throttled.
const (
	headerAppUsage  = "X-App-Usage"
	headerPageUsage = "X-Page-Usage"
	headerBUCUsage  = "X-Business-Use-Case-Usage"
)

// usage is one usage object. The values are numbers; Meta sends integers
// but float64 accepts both.
type usage struct {
	Type         string  `json:"type"`
	CallCount    float64 `json:"call_count"`
	TotalCPUTime float64 `json:"total_cputime"`
	TotalTime    float64 `json:"total_time"`
	// EstimatedTimeToRegainAccess is in minutes; 0 when not throttled.
	EstimatedTimeToRegainAccess float64 `json:"estimated_time_to_regain_access"`
}

func (u usage) maxPct() float64 { return max(u.CallCount, u.TotalCPUTime, u.TotalTime) }

// ParseUsage reads Meta's rate-limit headers at now. UsagePct is the
// highest percentage any header reports, clamped to 0..100; Reset is now
// plus the longest estimated_time_to_regain_access, when one is positive.
// Meta reports no call counts, so Remaining and Limit stay -1. Malformed
// headers are ignored; ok reports whether any header was read.
func ParseUsage(h http.Header, now time.Time) (rl platforms.RateLimit, ok bool) {
	rl = platforms.Unknown()
	pct := -1.0
	var wait float64
	for _, name := range []string{headerAppUsage, headerPageUsage} {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			continue
		}
		var u usage
		if json.Unmarshal([]byte(v), &u) != nil {
			continue
		}
		pct, ok = max(pct, u.maxPct()), true
	}
	if v := strings.TrimSpace(h.Get(headerBUCUsage)); v != "" {
		var buc map[string][]usage
		if json.Unmarshal([]byte(v), &buc) == nil {
			for _, us := range buc {
				for _, u := range us {
					pct, ok = max(pct, u.maxPct()), true
					wait = max(wait, u.EstimatedTimeToRegainAccess)
				}
			}
		}
	}
	if !ok {
		return rl, false
	}
	if pct >= 0 && !math.IsNaN(pct) {
		rl.UsagePct = int(math.Ceil(min(100, pct)))
	}
	// Bounded: a day is longer than any Meta window.
	if wait > 0 && wait <= 24*60 {
		rl.Reset = now.Add(time.Duration(wait * float64(time.Minute)))
	}
	return rl, true
}

// ParseScopes reads Meta's rate-limit headers at now into one Usage per
// limit: X-App-Usage (or X-Page-Usage) as the app's ("app"), each
// X-Business-Use-Case-Usage entry as its object's (named by its type,
// "pages" or "instagram"), with Reset at the estimated time to regain
// access when one is given. Malformed headers are ignored.
func ParseScopes(h http.Header, now time.Time) []platforms.Usage {
	var out []platforms.Usage
	pct := func(u usage) int { return int(math.Ceil(min(100, max(0, u.maxPct())))) }
	for _, name := range []string{headerAppUsage, headerPageUsage} {
		var u usage
		if v := strings.TrimSpace(h.Get(name)); v == "" || json.Unmarshal([]byte(v), &u) != nil || math.IsNaN(u.maxPct()) {
			continue
		}
		platforms.SetUsage(&out, platforms.Usage{Scope: topics.LimitScopeApp, Name: "app", UsedPct: pct(u), Remaining: -1, Limit: -1})
		break
	}
	var buc map[string][]usage
	if v := strings.TrimSpace(h.Get(headerBUCUsage)); v != "" && json.Unmarshal([]byte(v), &buc) == nil {
		for _, us := range buc {
			for _, u := range us {
				if u.Type == "" || math.IsNaN(u.maxPct()) {
					continue
				}
				pu := platforms.Usage{Scope: topics.LimitScopeAccount, Name: u.Type, UsedPct: pct(u), Remaining: -1, Limit: -1}
				if w := u.EstimatedTimeToRegainAccess; w > 0 && w <= 24*60 {
					pu.Reset = now.Add(time.Duration(w * float64(time.Minute)))
				}
				platforms.SetUsage(&out, pu)
			}
		}
	}
	return out
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date, at most a day ahead.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	if d <= 0 || d > 24*time.Hour {
		return 0, false
	}
	return d, true
}
