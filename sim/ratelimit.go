package sim

import (
	"time"

	"github.com/pulsehq/pulse/topics"
)

// Rate limiting: fixed windows, each opened by its first request, as X does
// for user-context limits. A request counts against every meter its
// platform puts it under (X: one per endpoint, app and account; Meta: the
// app's and the business object's).

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

// meter is one rate limit a request counts against.
type meter struct {
	// name is the platform's name for the limit; quotas carry it back to
	// the platform's error bodies and headers.
	name string
	key  windowKey
	// limit is resolved (no zero fields); Requests < 0 is unlimited.
	limit Limit
	// aligned windows start at multiples of their length since
	// 0001-01-01 UTC (LinkedIn's UTC days) instead of at their first call.
	aligned bool
}

// open returns the start of the window that a call at now opens.
func (m meter) open(now time.Time) time.Time {
	if m.aligned {
		return now.Truncate(m.limit.Window)
	}
	return now
}

// quota is a window's state after a request, for the rate-limit headers.
type quota struct {
	name      string // the meter's name
	owner     string // the meter's account, "" for an app-wide limit
	limit     int    // -1: not metered
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

// usedPct is the share of the window used, in percent rounded up, 0 to
// 100; 0 for an unmetered quota.
func (q quota) usedPct() int {
	if q.limit <= 0 {
		if q.limit == 0 || q.remaining == 0 {
			return 100
		}
		return 0
	}
	used := q.limit - q.remaining
	return min(100, (100*used+q.limit-1)/q.limit)
}

// takeLocked counts one request against every meter at now. The request is
// allowed only when every metered window has room; a denied request counts
// against none. It returns the quotas of the metered windows, in the order
// of ms (unlimited meters left out), and the index in it of the first
// exhausted window, or -1 when the request is allowed.
func (s *Server) takeLocked(ms []meter, now time.Time) (qs []quota, denied int) {
	denied = -1
	ws := make([]*window, 0, len(ms))
	for _, m := range ms {
		if m.limit.Requests < 0 {
			continue
		}
		w := s.windowLocked(m.key)
		if !now.Before(w.start.Add(m.limit.Window)) {
			w.start, w.used = m.open(now), 0
		}
		if denied < 0 && w.used >= m.limit.Requests {
			denied = len(qs)
		}
		ws = append(ws, w)
		qs = append(qs, quota{name: m.name, owner: m.key.account, limit: m.limit.Requests, reset: w.start.Add(m.limit.Window)})
	}
	for i, w := range ws {
		if denied < 0 {
			w.used++
		}
		qs[i].remaining = qs[i].limit - w.used
	}
	return qs, denied
}

// windowLocked returns the window of key, creating an empty one (which
// any call opens anew). A window is reset in place, so a pointer to it
// stays valid (Meterer keeps them).
func (s *Server) windowLocked(key windowKey) *window {
	w, ok := s.windows[key]
	if !ok {
		w = &window{}
		s.windows[key] = w
	}
	return w
}

// resolve applies the defaults to a configured limit: def requests per
// DefaultWindow.
func (l Limit) resolve(def int) Limit { return l.resolveWindow(def, DefaultWindow) }

// resolveWindow applies the defaults to a configured limit: def requests
// per window.
func (l Limit) resolveWindow(def int, window time.Duration) Limit {
	if l.Requests == 0 {
		l.Requests = def
	}
	if l.Window == 0 {
		l.Window = window
	}
	return l
}
