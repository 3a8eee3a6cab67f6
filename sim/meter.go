package sim

import (
	"fmt"

	"github.com/pulsehq/pulse/topics"
)

// Meterer meters the API calls of virtual fetches against the simulator's
// rate limits, for virtual-time simulations of far more accounts than the
// Server serves over HTTP. A fetch calls a fixed list of endpoints in
// order; each call counts against the same limits an HTTP request to that
// endpoint by the same app counts against (no token check, no faults, no
// answer), at the simulated clock. The app-wide windows are the ones HTTP
// requests of that app count against; the per-account windows belong to
// the Meterer's own accounts, numbered 0, 1, … by the caller (they are not
// the Server's HTTP accounts). A refused call counts as a limit breach in
// Stats, exactly as a 429 would; calls are counted by platform, endpoint
// and app, not by account.
//
// Metering a fetch allocates nothing: the limits are resolved when the
// Meterer is made, and the per-account windows are kept in slices indexed
// by account number. A Meterer is safe for concurrent use.
type Meterer struct {
	s     *Server
	p     topics.Platform
	app   string
	names []string // the endpoints, in call order
	calls [][]meterRef
	// counts per endpoint, since New or the last ResetStats; guarded by
	// Server.mu.
	counts []Counts
}

// meterRef is one limit a call counts against: an app-wide window shared
// with HTTP requests, or a per-account table.
type meterRef struct {
	name    string
	shared  *window // app-wide; nil for per-account
	acct    *accountWindows
	limit   Limit
	aligned bool
}

// accountWindows are one per-account limit's windows, by account number.
type accountWindows struct {
	w []denseWindow
}

// denseWindow is a window without pointers: its start in Unix
// nanoseconds (0: never opened) and the calls in it.
type denseWindow struct {
	start int64
	used  int32
}

// NewMeterer returns a Meterer for the app clientID's fetches of platform
// p, each calling endpoints once, in order. Endpoint names are the Stats
// names (e.g. XEndpointUsersMe).
func (s *Server) NewMeterer(p topics.Platform, clientID string, endpoints []string) (*Meterer, error) {
	ps, err := s.state(p)
	if err != nil {
		return nil, err
	}
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("sim: meterer: %s: no endpoints", p)
	}
	m := &Meterer{s: s, p: p, app: clientID, names: append([]string(nil), endpoints...), counts: make([]Counts, len(endpoints))}
	// A placeholder account: the per-account windows are the Meterer's.
	g := grant{platform: p, clientID: clientID, accountID: "\x00meterer"}
	tables := map[windowKey]*accountWindows{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range endpoints {
		var refs []meterRef
		for _, mt := range ps.impl.meters(e, &g) {
			if mt.limit.Requests < 0 {
				continue
			}
			r := meterRef{name: mt.name, limit: mt.limit, aligned: mt.aligned}
			if mt.key.account == "" {
				r.shared = s.windowLocked(mt.key)
			} else {
				k := mt.key
				k.account = ""
				if tables[k] == nil {
					tables[k] = &accountWindows{}
				}
				r.acct = tables[k]
			}
			refs = append(refs, r)
		}
		m.calls = append(m.calls, refs)
	}
	s.meterers = append(s.meterers, m)
	return m, nil
}

// Fetch meters one fetch for account (0 or more): one call to each
// endpoint, in order, until a call is refused because one of its limits is
// exhausted. It returns the calls made (the refused one included) and the
// name of the exhausted limit (the platform's name, as in its 429s; ""
// when every call was allowed) and whether that limit was the account's
// own (false: app-wide).
func (m *Meterer) Fetch(account int) (calls int, refused string, perAccount bool) {
	return m.FetchFirst(account, len(m.calls))
}

// FetchFirst is Fetch calling only the first n endpoints (a fetch that
// skips its posts).
func (m *Meterer) FetchFirst(account, n int) (calls int, refused string, perAccount bool) {
	return m.FetchRange(account, 0, n)
}

// FetchRange is Fetch calling only endpoints from to to-1 (more pages of
// posts).
func (m *Meterer) FetchRange(account, from, to int) (calls int, refused string, perAccount bool) {
	if account < 0 {
		account = 0
	}
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	ns := now.UnixNano()
	from = max(0, min(from, len(m.calls)))
	for j, refs := range m.calls[from:max(from, min(to, len(m.calls)))] {
		i := from + j
		calls++
		denied := -1
		for k := range refs {
			r := &refs[k]
			if r.shared != nil {
				w := r.shared
				if !now.Before(w.start.Add(r.limit.Window)) {
					start := now
					if r.aligned {
						start = now.Truncate(r.limit.Window)
					}
					w.start, w.used = start, 0
				}
				if denied < 0 && w.used >= r.limit.Requests {
					denied = k
				}
				continue
			}
			if account >= len(r.acct.w) {
				r.acct.w = append(r.acct.w, make([]denseWindow, account+1-len(r.acct.w))...)
			}
			w := &r.acct.w[account]
			if w.start == 0 || ns-w.start >= int64(r.limit.Window) {
				start := ns
				if r.aligned {
					start = now.Truncate(r.limit.Window).UnixNano()
				}
				w.start, w.used = start, 0
			}
			if denied < 0 && int(w.used) >= r.limit.Requests {
				denied = k
			}
		}
		c := &m.counts[i]
		c.Requests++
		if denied >= 0 {
			c.LimitBreaches++
			c.Errors++
			return calls, refs[denied].name, refs[denied].shared == nil
		}
		for k := range refs {
			r := &refs[k]
			if r.shared != nil {
				r.shared.used++
			} else {
				r.acct.w[account].used++
			}
		}
	}
	return calls, "", false
}

// addCountsLocked adds the Meterers' counts to out's.
func (s *Server) addCountsLocked(out map[topics.Platform]PlatformStats) {
	for _, m := range s.meterers {
		ps, ok := out[m.p]
		if !ok {
			continue
		}
		for i, c := range m.counts {
			if c == (Counts{}) {
				continue
			}
			ps.Counts.add(c)
			bump(ps.Endpoints, m.names[i], c)
			bump(ps.Apps, m.app, c)
		}
		out[m.p] = ps
	}
}
