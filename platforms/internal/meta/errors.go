package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/topics"
)

// GraphError is the Graph API's error object:
// {"error":{"message","type","code","error_subcode","is_transient","fbtrace_id"}}.
type GraphError struct {
	Message     string `json:"message"`
	Type        string `json:"type"`
	Code        int    `json:"code"`
	Subcode     int    `json:"error_subcode"`
	IsTransient bool   `json:"is_transient"`
	FBTraceID   string `json:"fbtrace_id"`
}

// ParseError extracts the error of a Graph API body: the error object, or
// the flat {"error_type","code","error_message"} of Instagram Login's token
// endpoint. It returns nil when the body has none.
func ParseError(body []byte) *GraphError {
	var b struct {
		Error        json.RawMessage `json:"error"`
		ErrorType    string          `json:"error_type"`
		Code         int             `json:"code"`
		ErrorMessage string          `json:"error_message"`
	}
	if json.Unmarshal(body, &b) != nil {
		return nil
	}
	if len(b.Error) > 0 && b.Error[0] == '{' {
		var ge GraphError
		if json.Unmarshal(b.Error, &ge) != nil || ge.Code == 0 && ge.Message == "" {
			return nil
		}
		return &ge
	}
	if b.ErrorMessage != "" {
		return &GraphError{Message: b.ErrorMessage, Type: b.ErrorType, Code: b.Code}
	}
	return nil
}

// describe is a one-line message for e, bounded in length.
func (e *GraphError) describe() string {
	msg := strings.Join(strings.Fields(e.Message), " ")
	if e.Type != "" {
		msg = e.Type + ": " + msg
	}
	if e.Subcode != 0 {
		msg += fmt.Sprintf(" (subcode %d)", e.Subcode)
	}
	if e.FBTraceID != "" {
		msg += " [fbtrace_id " + e.FBTraceID + "]"
	}
	const maxMsg = 400
	if len(msg) > maxMsg {
		msg = strings.ToValidUTF8(msg[:maxMsg], "") + "…"
	}
	return msg
}

// IsThrottle reports whether code is one of Meta's rate-limit error codes:
// 4 (app), 17 (user), 32 (Page), 341 (application limit), 613 (endpoint)
// and 80000-80014 (business use cases: 80001 Pages, 80002 Instagram, ...).
func IsThrottle(code int) bool {
	switch {
	case code == 4, code == 17, code == 32, code == 341, code == 613:
		return true
	case code >= 80000 && code <= 80014:
		return true
	}
	return false
}

// ThrottleScope returns whose limit a throttling code names: the app's (4
// app, 341 application, 613 endpoint) or one account's (17 user, 32 Page,
// 80000-80014 the business object's), as topics.LimitScope* values; ""
// for other codes.
func ThrottleScope(code int) string {
	switch {
	case code == 4 || code == 341 || code == 613:
		return topics.LimitScopeApp
	case code == 17 || code == 32 || code >= 80000 && code <= 80014:
		return topics.LimitScopeAccount
	}
	return ""
}

// Classify returns the class of a Graph API error: the error code decides
// when it is known (190 and 102 Reauth; 10 and 200-299 Permission; the
// throttling codes Throttled; 1, 2 and errors Meta flags is_transient
// Transient); otherwise the HTTP status (429 Throttled, 401 Reauth, 403
// Permission, 5xx Transient, any other Permanent). ge may be nil.
func Classify(status int, ge *GraphError) platforms.Class {
	if ge != nil {
		switch c := ge.Code; {
		case c == 190 || c == 102:
			return platforms.Reauth
		case c == 10 || c >= 200 && c <= 299:
			return platforms.Permission
		case IsThrottle(c):
			return platforms.Throttled
		case c == 1 || c == 2 || ge.IsTransient:
			return platforms.Transient
		}
	}
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

// apiError classifies an error answer of an API call (a non-2xx status, or
// a 2xx body carrying an error object) and fills its message, code and, for
// Throttled, its retry time.
func (c *Client) apiError(op string, status int, body []byte, limit platforms.RateLimit, h http.Header) *platforms.Error {
	ge := ParseError(body)
	class := Classify(status, ge)
	msg := http.StatusText(status)
	e := c.NewError(op, class, status, nil)
	if ge != nil {
		e.Code = ge.Code
		msg = ge.describe()
	}
	if msg == "" {
		msg = "error"
	}
	e.Err = errors.New(msg)
	e.Limit = limit
	if class == platforms.Throttled {
		e.RetryAfter = c.retryAfter(limit, h)
		if ge != nil {
			e.Scope = ThrottleScope(ge.Code)
		}
	}
	return e
}

// retryAfter is when a throttled call may be retried: Meta's estimated
// time to regain access, a Retry-After header, or ThrottleFallback from
// now.
func (c *Client) retryAfter(limit platforms.RateLimit, h http.Header) time.Time {
	now := c.Now()
	if !limit.Reset.IsZero() && limit.Reset.After(now) {
		return limit.Reset
	}
	if h != nil {
		if d, ok := parseRetryAfter(h.Get("Retry-After"), now); ok {
			return now.Add(d)
		}
	}
	return now.Add(ThrottleFallback)
}
