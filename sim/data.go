package sim

import (
	"time"

	"github.com/pulsehq/pulse/topics"
)

// The synthetic data, as the platforms' APIs report it: tests use these to
// assert the exact values a connector should read.

// Accounts returns platform p's synthetic accounts in id order; nil for a
// platform that is not simulated.
func (s *Server) Accounts(p topics.Platform) []Account {
	ps, err := s.state(p)
	if err != nil {
		return nil
	}
	out := make([]Account, len(ps.accounts))
	for i, a := range ps.accounts {
		out[i] = a.Account
	}
	return out
}

// Metrics returns account id's counters at time at, as the platform's API
// reports them at that simulated time.
func (s *Server) Metrics(p topics.Platform, id string, at time.Time) (AccountMetrics, error) {
	_, a, err := s.lookup(p, id)
	if err != nil {
		return AccountMetrics{}, err
	}
	return a.metrics(at.UTC()), nil
}

// Followers returns account id's follower count at time at.
func (s *Server) Followers(p topics.Platform, id string, at time.Time) (int64, error) {
	m, err := s.Metrics(p, id, at)
	return m.Followers, err
}

// Posts returns up to n of account id's posts published at or before at,
// newest first, with their engagement at at, as the platform reports them
// (text and permalink included). n <= 0 means every post the platform's
// timeline serves: the 3,200 most recent.
func (s *Server) Posts(p topics.Platform, id string, at time.Time, n int) ([]Post, error) {
	ps, a, err := s.lookup(p, id)
	if err != nil {
		return nil, err
	}
	at = at.UTC()
	last, first := a.lastSlot(at), a.firstServed(at)
	if n <= 0 || int64(n) > last-first+1 {
		n = int(max(0, last-first+1))
	}
	out := make([]Post, 0, n)
	for k := last; k >= first && len(out) < n; k-- {
		out = append(out, ps.post(a, k, at))
	}
	return out, nil
}
