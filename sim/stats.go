package sim

import (
	"maps"

	"github.com/pulsehq/pulse/topics"
)

// unknownApp is the app key of requests whose app could not be told.
const unknownApp = "unknown"

// Counts are request counters.
type Counts struct {
	// Requests is the number of requests received.
	Requests int64 `json:"requests"`
	// LimitBreaches is the number of requests refused with 429 because a
	// rate limit was exhausted (injected 429s count as Faults).
	LimitBreaches int64 `json:"limit_breaches"`
	// Faults is the number of requests that got an injected fault.
	Faults int64 `json:"faults"`
	// Errors is the number of answers with a 4xx or 5xx status.
	Errors int64 `json:"errors"`
}

func (c *Counts) add(d Counts) {
	c.Requests += d.Requests
	c.LimitBreaches += d.LimitBreaches
	c.Faults += d.Faults
	c.Errors += d.Errors
}

// PlatformStats are one platform's counters, in total and broken down.
type PlatformStats struct {
	Counts
	// Endpoints by name, e.g. "users/me", "oauth2/token".
	Endpoints map[string]Counts `json:"endpoints"`
	// Apps by OAuth client id; "unknown" when the request did not tell.
	Apps map[string]Counts `json:"apps"`
	// Accounts by account id, for requests whose account is known.
	Accounts map[string]Counts `json:"accounts"`
}

func newPlatformStats() *PlatformStats {
	return &PlatformStats{Endpoints: map[string]Counts{}, Apps: map[string]Counts{}, Accounts: map[string]Counts{}}
}

// Stats are the Server's counters since New or the last ResetStats.
type Stats struct {
	Platforms map[topics.Platform]PlatformStats `json:"platforms"`
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{Platforms: make(map[topics.Platform]PlatformStats, len(s.stats))}
	for p, ps := range s.stats {
		out.Platforms[p] = PlatformStats{
			Counts:    ps.Counts,
			Endpoints: maps.Clone(ps.Endpoints),
			Apps:      maps.Clone(ps.Apps),
			Accounts:  maps.Clone(ps.Accounts),
		}
	}
	s.addCountsLocked(out.Platforms)
	return out
}

// ResetStats zeroes the counters.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.stats {
		s.stats[p] = newPlatformStats()
	}
	for _, m := range s.meterers {
		clear(m.counts)
	}
}

// record counts one request.
func (s *Server) record(p topics.Platform, endpoint, app, account string, d Counts) {
	if app == "" {
		app = unknownApp
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, ok := s.stats[p]
	if !ok {
		return
	}
	ps.add(d)
	bump(ps.Endpoints, endpoint, d)
	bump(ps.Apps, app, d)
	if account != "" {
		bump(ps.Accounts, account, d)
	}
}

func bump(m map[string]Counts, k string, d Counts) {
	c := m[k]
	c.add(d)
	m[k] = c
}
