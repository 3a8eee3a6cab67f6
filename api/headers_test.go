package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pulsehq/pulse/api"
)

// TestSecurityHeaders: JSON answers are neither cached nor sniffed, HSTS
// is sent when enabled (only), and the OAuth result pages forbid framing
// and everything but their inline style.
func TestSecurityHeaders(t *testing.T) {
	plain := newEnv(t).browser(t)
	for name, r := range map[string]response{
		"graphql": plain.postJSON("/graphql", map[string]any{"query": "{ me { id } }"}),
		"login":   plain.login("nobody@example.com", "wrong password here"),
		"healthz": plain.get("/healthz"),
	} {
		if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: Cache-Control %q, X-Content-Type-Options %q", name, r.Header.Get("Cache-Control"), r.Header.Get("X-Content-Type-Options"))
		}
		if r.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS without https", name)
		}
	}
	page := plain.get("/oauth/x/callback?state=forged&code=x")
	csp := page.Header.Get("Content-Security-Policy")
	if page.StatusCode != http.StatusForbidden || !strings.Contains(csp, "frame-ancestors 'none'") ||
		!strings.Contains(csp, "default-src 'none'") || page.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("OAuth result page: %d, CSP %q, X-Frame-Options %q", page.StatusCode, csp, page.Header.Get("X-Frame-Options"))
	}

	secure := newEnv(t, func(c *api.Config) { c.HSTS = true }).browser(t)
	if h := secure.get("/healthz").Header.Get("Strict-Transport-Security"); !strings.HasPrefix(h, "max-age=") {
		t.Errorf("HSTS enabled: Strict-Transport-Security %q", h)
	}
}
