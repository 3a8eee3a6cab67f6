package meta

import (
	"net/http"
	"testing"
	"time"
)

// FuzzParseUsage: Meta's rate-limit headers never make ParseUsage panic,
// and what it reports stays in range.
func FuzzParseUsage(f *testing.F) {
	f.Add(`{"call_count":28,"total_time":25,"total_cputime":25}`, `{"123":[{"type":"pages","call_count":100,"total_cputime":25,"total_time":25,"estimated_time_to_regain_access":19}]}`)
	f.Add(``, `{"1":[{"type":"instagram","call_count":5,"estimated_time_to_regain_access":0}]}`)
	f.Add(`{"call_count":-5}`, `{"1":[{"estimated_time_to_regain_access":-3}]}`)
	f.Fuzz(func(t *testing.T, app, buc string) {
		h := http.Header{}
		h.Set("X-App-Usage", app)
		h.Set("X-Business-Use-Case-Usage", buc)
		rl, _ := ParseUsage(h, now)
		if rl.UsagePct < -1 || rl.UsagePct > 100 || rl.Remaining != -1 || rl.Limit != -1 {
			t.Errorf("ParseUsage(%q, %q) = %+v", app, buc, rl)
		}
		if !rl.Reset.IsZero() && (!rl.Reset.After(now) || rl.Reset.After(now.Add(24*time.Hour))) {
			t.Errorf("ParseUsage(%q, %q): reset %v", app, buc, rl.Reset)
		}
		for _, u := range ParseScopes(h, now) {
			if u.UsedPct < 0 || u.UsedPct > 100 || u.Name == "" || (u.Scope != "app" && u.Scope != "account") ||
				(!u.Reset.IsZero() && (!u.Reset.After(now) || u.Reset.After(now.Add(24*time.Hour)))) {
				t.Errorf("ParseScopes(%q, %q): %+v", app, buc, u)
			}
		}
	})
}

// FuzzParseError: error bodies never make ParseError or Classify panic.
func FuzzParseError(f *testing.F) {
	f.Add([]byte(`{"error":{"message":"(#80001) There have been too many calls to this Page account.","type":"OAuthException","code":80001,"fbtrace_id":"A1"}}`), 400)
	f.Add([]byte(`{"error_type":"OAuthException","code":400,"error_message":"Invalid authorization code"}`), 400)
	f.Add([]byte(`{"error":"invalid_grant"}`), 401)
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		ge := ParseError(body)
		if ge != nil && ge.Code == 0 && ge.Message == "" {
			t.Errorf("ParseError(%q) = empty error", body)
		}
		if c := Classify(status, ge); c < 0 || c > 4 {
			t.Errorf("Classify = %v", c)
		}
		if ge != nil && len(ge.describe()) > 420 {
			t.Errorf("description too long: %d", len(ge.describe()))
		}
	})
}
