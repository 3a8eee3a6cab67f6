package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"testing"

	"github.com/pulsehq/pulse/api"
)

// signUpFrom signs up email through a trusted proxy that reports the
// client as addr, and returns the status.
func signUpFrom(t *testing.T, e *env, addr, email string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": testPassword})
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/auth/signup", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	// A client-written entry first: it must not be believed.
	req.Header.Set("X-Forwarded-For", "10.9.9.9, "+addr)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	return resp.StatusCode
}

// TestSignUpsAreThrottledPerNetworkAndGlobally: of twenty sign-ups from
// one network (behind the trusted proxy), the first ten succeed and the
// rest get 429, while another network still signs up; past the global
// limit, every network is refused.
func TestSignUpsAreThrottledPerNetworkAndGlobally(t *testing.T) {
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	e := newEnv(t, func(c *api.Config) {
		c.TrustedProxies = []netip.Prefix{loopback}
		c.SignUpLimits = api.SignUpLimits{Window: api.DefaultSignUpLimits.Window, PerNetwork: 10, Global: 13}
	})
	var created, throttled int
	for i := range 20 {
		switch st := signUpFrom(t, e, "203.0.113.7", fmt.Sprintf("flood%d@example.com", i)); st {
		case http.StatusCreated:
			created++
		case http.StatusTooManyRequests:
			throttled++
		default:
			t.Fatalf("sign-up %d: status %d", i, st)
		}
	}
	if created != 10 || throttled != 10 {
		t.Fatalf("from one network: %d created, %d throttled; want 10 and 10", created, throttled)
	}
	for i, addr := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		if st := signUpFrom(t, e, addr, fmt.Sprintf("other%d@example.com", i)); st != http.StatusCreated {
			t.Fatalf("another network (%s): %d, want 201", addr, st)
		}
	}
	if st := signUpFrom(t, e, "198.51.100.4", "one-too-many@example.com"); st != http.StatusTooManyRequests {
		t.Fatalf("past the global limit: %d, want 429", st)
	}
}
