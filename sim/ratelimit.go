package sim

import (
	"time"

	"github.com/pulsehq/pulse/topics"
)

// Rate limiting: a fixed window per (platform, endpoint, app, account),
// opened by the window's first request, as X does for user-context limits.

type windowKey struct {
	platform topics.Platform
	endpoint string
	app      string
	account  string
}

type window struct {
	start time.Time
	used  int
}

// quota is a window's state after a request, for the rate-limit headers.
type quota struct {
	limit     int
	remaining int
	reset     time.Time
}

// resetUnix is reset in Unix seconds, rounded up so a client waiting until
// then finds the window open.
func (q quota) resetUnix() int64 {
	sec := q.reset.Unix()
	if q.reset.Nanosecond() > 0 {
		sec++
	}
	return sec
}

// takeLocked counts one request against lim in key's window at now. It
// reports whether the request is allowed (a denied one is not counted), and
// the window's quota; metered is false for an unlimited endpoint.
func (s *Server) takeLocked(key windowKey, lim Limit, now time.Time) (q quota, allowed, metered bool) {
	if lim.Requests < 0 {
		return quota{}, true, false
	}
	w, ok := s.windows[key]
	if !ok || !now.Before(w.start.Add(lim.Window)) {
		w = &window{start: now}
		s.windows[key] = w
	}
	allowed = w.used < lim.Requests
	if allowed {
		w.used++
	}
	return quota{limit: lim.Requests, remaining: lim.Requests - w.used, reset: w.start.Add(lim.Window)}, allowed, true
}

// resolve applies the defaults to a configured limit.
func (l Limit) resolve(def int) Limit {
	if l.Requests == 0 {
		l.Requests = def
	}
	if l.Window == 0 {
		l.Window = DefaultWindow
	}
	return l
}
