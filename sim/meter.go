package sim

import (
	"github.com/pulsehq/pulse/topics"
)

// Meter counts one API call to endpoint of platform p by the app clientID
// for the account accountID, at the simulated clock, against the same rate
// limits an HTTP request to that endpoint counts against (no token check,
// no faults, no answer), and returns whether the limits allowed it. A
// refused call counts as a limit breach in Stats, exactly as a 429 would;
// Meter's calls are counted by platform, endpoint and app, not by account
// (a simulation may meter millions).
// Endpoint names are the Stats names (e.g. XEndpointUsersMe). Virtual-time
// simulations of far more accounts than the Server serves over HTTP use it
// to exercise the platforms' limits.
func (s *Server) Meter(p topics.Platform, endpoint, clientID, accountID string) (bool, error) {
	ps, err := s.state(p)
	if err != nil {
		return false, err
	}
	g := grant{platform: p, clientID: clientID, accountID: accountID}
	s.mu.Lock()
	_, denied := s.takeLocked(ps.impl.meters(endpoint, &g), s.now())
	s.mu.Unlock()
	d := Counts{Requests: 1}
	if denied >= 0 {
		d.LimitBreaches, d.Errors = 1, 1
	}
	s.record(p, endpoint, clientID, "", d)
	return denied < 0, nil
}
