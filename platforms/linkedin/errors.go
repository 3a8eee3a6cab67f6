package linkedin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
	"github.com/pulsehq/pulse/topics"
)

// APIError is the REST API's error body:
// {"status":401,"serviceErrorCode":65600,"code":"INVALID_ACCESS_TOKEN",
// "message":"Invalid access token"}. Older gateways send only status and
// message.
type APIError struct {
	Status           int    `json:"status"`
	ServiceErrorCode int    `json:"serviceErrorCode"`
	Code             string `json:"code"`
	Message          string `json:"message"`
}

// ParseError extracts the error of a REST API body. It returns nil when
// body is not a JSON object carrying a code or a message.
func ParseError(body []byte) *APIError {
	var e APIError
	if httpx.DecodeObject(body, &e) != nil || e.Code == "" && e.Message == "" {
		return nil
	}
	return &e
}

// describe is a one-line, bounded message for e: code, message and
// service error code.
func (e *APIError) describe() string {
	msg := strings.Join(strings.Fields(e.Message), " ")
	if code := strings.Join(strings.Fields(e.Code), "_"); code != "" {
		if msg == "" {
			msg = code
		} else {
			msg = code + ": " + msg
		}
	}
	if e.ServiceErrorCode != 0 {
		msg += fmt.Sprintf(" (serviceErrorCode %d)", e.ServiceErrorCode)
	}
	const maxMsg = 400
	if len(msg) > maxMsg {
		msg = strings.ToValidUTF8(msg[:maxMsg], "") + "…"
	}
	return msg
}

// Classify returns the class of an API answer with a non-2xx status:
// 429 Throttled (an app or member daily limit), 401 Reauth (an invalid,
// expired or revoked token: serviceErrorCode 65600-65602), 403 Permission
// (ACCESS_DENIED: a scope or an ADMINISTRATOR role is missing), 5xx
// Transient, and any other status Permanent (426: the pinned API version
// is no longer served; 400 and 404: a request retrying cannot fix).
func Classify(status int) platforms.Class {
	switch {
	case status == http.StatusTooManyRequests:
		return platforms.Throttled
	case status == http.StatusUnauthorized:
		return platforms.Reauth
	case status == http.StatusForbidden:
		return platforms.Permission
	case status >= 500:
		return platforms.Transient
	}
	return platforms.Permanent
}

// statusError classifies a non-2xx API answer; the message comes from
// LinkedIn's error body when it has one. A throttled call may be retried
// at the next midnight UTC, when LinkedIn's daily windows reset.
func (c *Connector) statusError(op string, status int, body []byte) *platforms.Error {
	msg := http.StatusText(status)
	var code int
	if ae := ParseError(body); ae != nil {
		msg, code = ae.describe(), ae.ServiceErrorCode
	}
	if status == http.StatusUpgradeRequired {
		msg += " (LinkedIn-Version " + APIVersion + ")"
	}
	if msg == "" {
		msg = "error"
	}
	e := c.newError(op, Classify(status), status, errors.New(msg))
	e.Code = code
	if e.Class == platforms.Throttled {
		e.Limit = c.exhausted()
		e.RetryAfter = e.Limit.Reset
		e.Scope = ThrottleScope(msg)
	}
	return e
}

// ThrottleScope returns whose daily limit a 429's message names:
// "APPLICATION" the app's, "MEMBER" the member's (one account), as
// topics.LimitScope* values; "" when it names neither.
func ThrottleScope(msg string) string {
	switch {
	case strings.Contains(msg, "APPLICATION"):
		return topics.LimitScopeApp
	case strings.Contains(msg, "MEMBER"):
		return topics.LimitScopeAccount
	}
	return ""
}

// NextReset returns when LinkedIn's daily rate-limit windows next reset
// after t: the next midnight UTC.
func NextReset(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// window is the rate-limit state of a call LinkedIn accepted: it reports
// none, but its windows reset at the next midnight UTC.
func (c *Connector) window() platforms.RateLimit {
	rl := platforms.Unknown()
	rl.Reset = NextReset(c.now())
	return rl
}

// exhausted is the rate-limit state of a throttled call: nothing left
// until the next midnight UTC.
func (c *Connector) exhausted() platforms.RateLimit {
	rl := c.window()
	rl.Remaining = 0
	return rl
}
