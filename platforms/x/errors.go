package x

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/topics"
)

// problem is the union of X's error bodies: API v2 problem details
// ({"title","detail","type","status"}) and v1.1-style error lists
// ({"errors":[{"code","message"}]}), which some gateways still send.
type problem struct {
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Type   string `json:"type"`
	Status int    `json:"status"`
	Errors []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Title   string `json:"title"`
		Detail  string `json:"detail"`
	} `json:"errors"`
}

// statusError classifies a non-2xx response: 429 is Throttled (retry at the
// rate-limit reset, or after X's 15-minute window when no reset was sent),
// 401 Reauth, 403 Permission, 5xx Transient and any other status Permanent.
// The message comes from X's error body when it has one.
func (c *Connector) statusError(op string, status int, body []byte, limit platforms.RateLimit) *platforms.Error {
	class := platforms.Permanent
	switch {
	case status == http.StatusTooManyRequests:
		class = platforms.Throttled
	case status == http.StatusUnauthorized:
		class = platforms.Reauth
	case status == http.StatusForbidden:
		class = platforms.Permission
	case status >= 500:
		class = platforms.Transient
	}
	code, msg := describe(body)
	if msg == "" {
		msg = http.StatusText(status)
	}
	e := c.newError(op, class, status, errors.New(msg))
	e.Code = code
	e.Limit = limit
	if class == platforms.Throttled {
		e.RetryAfter = c.retryAfter(limit)
		// Pulse calls X with user tokens, whose limits are per user; a
		// monthly usage cap is the app's (project's).
		e.Scope = topics.LimitScopeAccount
		if strings.Contains(strings.ToLower(msg), "usagecap") || strings.Contains(strings.ToLower(msg), "usage cap") {
			e.Scope = topics.LimitScopeApp
		}
	}
	return e
}

// retryAfter is when a throttled call may be retried: the window's reset,
// or throttleFallback from now when X did not say.
func (c *Connector) retryAfter(limit platforms.RateLimit) time.Time {
	if !limit.Reset.IsZero() {
		return limit.Reset
	}
	return c.now().Add(throttleFallback)
}

// describe extracts the first platform error code and a one-line message
// from an X error body; it returns zero values for anything else.
func describe(body []byte) (code int, msg string) {
	var p problem
	if json.Unmarshal(body, &p) != nil {
		return 0, ""
	}
	parts := make([]string, 0, 2)
	add := func(s string) {
		s = strings.Join(strings.Fields(s), " ")
		if s != "" && (len(parts) == 0 || parts[len(parts)-1] != s) {
			parts = append(parts, s)
		}
	}
	add(p.Title)
	add(p.Detail)
	if len(p.Errors) > 0 {
		e := p.Errors[0]
		code = e.Code
		if len(parts) == 0 {
			add(e.Title)
			add(e.Message)
			add(e.Detail)
		}
	}
	msg = strings.Join(parts, ": ")
	const maxMsg = 300
	if len(msg) > maxMsg {
		msg = strings.ToValidUTF8(msg[:maxMsg], "") + "…"
	}
	return code, msg
}
