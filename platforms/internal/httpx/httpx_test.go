package httpx

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse/platforms"
)

func TestBackoff(t *testing.T) {
	for attempt, base := range map[int]time.Duration{1: 200 * time.Millisecond, 2: 400 * time.Millisecond} {
		for range 100 {
			if d := Backoff(200*time.Millisecond, attempt); d < base/2 || d > base {
				t.Fatalf("Backoff(200ms, %d) = %v, want in [%v, %v]", attempt, d, base/2, base)
			}
		}
	}
	if d := Backoff(0, 1); d != 0 {
		t.Errorf("Backoff(0, 1) = %v", d)
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep: %v", err)
	}
	cause := errors.New("stop")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	t0 := time.Now()
	if err := Sleep(ctx, time.Hour); err != cause || time.Since(t0) > 10*time.Second {
		t.Errorf("Sleep on a done context = %v after %v", err, time.Since(t0))
	}
}

func TestRedact(t *testing.T) {
	err := Redact(errors.New(`Get "https://x/?access_token=abc%2Fdefgh12&secret=s3cret-value": failed abc/defgh12`), "abc/defgh12", "s3cret-value", "short")
	if msg := err.Error(); strings.Contains(msg, "defgh12") || strings.Contains(msg, "s3cret") || !strings.Contains(msg, "[REDACTED]") {
		t.Errorf("redacted: %s", msg)
	}
	if Redact(nil, "abcdefghij") != nil {
		t.Error("Redact(nil) is not nil")
	}
	base := errors.New("x")
	if !errors.Is(Redact(base, "abcdefghij"), base) {
		t.Error("Redact hides the original error from errors.Is")
	}
}

func TestRedactRaw(t *testing.T) {
	err := RedactRaw(errors.New(`token abc/defgh12 or abc%2Fdefgh12, short`), "abc/defgh12", "short")
	if msg := err.Error(); msg != `token [REDACTED] or abc%2Fdefgh12, short` {
		t.Errorf("redacted: %s", msg)
	}
	base := errors.New("no secret here")
	if RedactRaw(base, "short") != base || RedactRaw(nil, "abcdefghij") != nil {
		t.Error("RedactRaw wrapped without a secret to remove")
	}
	if !errors.Is(RedactRaw(base, "abcdefghij"), base) {
		t.Error("RedactRaw hides the original error from errors.Is")
	}
}

func TestRootURL(t *testing.T) {
	for in, want := range map[string]string{"": "https://def.example", "http://h:8080/": "http://h:8080", "https://h/api//": "https://h/api"} {
		if got, err := RootURL(in, "https://def.example/"); err != nil || got != want {
			t.Errorf("RootURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"ftp://h", "/relative", "https://", "https://h/?q=1", "https://h/#f", "http://[::1"} {
		if got, err := RootURL(in, "https://def.example"); err == nil {
			t.Errorf("RootURL(%q) = %q, want an error", in, got)
		}
	}
}

func TestConfigure(t *testing.T) {
	def := Defaults{BaseURL: "https://api.example/", AuthBaseURL: "https://auth.example", MaxPages: 5, HTTPTimeout: 30 * time.Second}
	s, err := Configure(platforms.Config{}, def)
	if err != nil || s.BaseURL != "https://api.example" || s.AuthBaseURL != "https://auth.example" || s.MaxPages != 5 ||
		s.HTTP == nil || s.HTTP.Timeout != 30*time.Second {
		t.Fatalf("defaults: %+v, %v", s, err)
	}
	hc := &http.Client{}
	if s, err := Configure(platforms.Config{HTTPClient: hc, MaxPostPages: 2}, def); err != nil || s.HTTP != hc || s.MaxPages != 2 {
		t.Errorf("explicit: %+v, %v", s, err)
	}
	for cfg, want := range map[platforms.Config]string{
		{BaseURL: "ftp://h"}:             `BaseURL: "ftp://h" is not an absolute http(s) URL`,
		{AuthBaseURL: "https://h?x"}:     `AuthBaseURL: "https://h?x" has a query or fragment`,
		{RedirectURL: "/cb"}:             `RedirectURL: "/cb" is not an absolute http(s) URL`,
		{MaxPostPages: -1}:               `MaxPostPages -1 is negative`,
		{BaseURL: "x", MaxPostPages: -1}: `BaseURL: "x" is not an absolute http(s) URL`,
	} {
		if _, err := Configure(cfg, def); err == nil || err.Error() != want {
			t.Errorf("Configure(%+v) = %v, want %q", cfg, err, want)
		}
	}
}

func TestDecodeObject(t *testing.T) {
	var v struct{ A int }
	if err := DecodeObject([]byte(" \n{\"A\":1}"), &v); err != nil || v.A != 1 {
		t.Errorf("DecodeObject: %v, %+v", err, v)
	}
	for _, b := range []string{"", " ", "[1]", "null", `"s"`} {
		if DecodeObject([]byte(b), &v) == nil {
			t.Errorf("DecodeObject accepted %q", b)
		}
	}
}

func TestTokenEndpointError(t *testing.T) {
	body := errors.New(`oauth2: "invalid_grant" {"secret":"body"}`)
	err := TokenEndpointError("invalid_grant: expired", body)
	if err.Error() != "token endpoint: invalid_grant: expired" || !errors.Is(err, body) {
		t.Errorf("TokenEndpointError = %q, unwraps to body: %v", err, errors.Is(err, body))
	}
}
