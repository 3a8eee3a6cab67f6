package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/pulsehq/pulse"
)

// SignUpLimits throttle account creation: per client network (one
// attacker filling the user table, or probing it) and across all networks
// (a distributed flood). Every sign-up counts, successful or not, for
// Window. Counts live in the sign-in throttle's store, apart from sign-in
// counts, so they hold across API replicas.
type SignUpLimits struct {
	Window     time.Duration
	PerNetwork int
	Global     int
}

// DefaultSignUpLimits allow 10 sign-ups per client network and 1,000
// overall per hour.
var DefaultSignUpLimits = SignUpLimits{Window: time.Hour, PerNetwork: 10, Global: 1000}

// signUpKey prefixes the throttle's client key for sign-ups, so they never
// count against sign-ins from the same network.
const signUpKey = "signup:"

// admitSignUp counts a sign-up from r's network and globally, or answers
// 429 with Retry-After and returns false.
func (s *Server) admitSignUp(w http.ResponseWriter, r *http.Request) bool {
	ctx := r.Context()
	l := s.cfg.SignUpLimits
	for _, c := range []struct {
		client string
		limit  int
	}{
		{signUpKey + infoFrom(ctx).client, l.PerNetwork},
		{signUpKey + "*", l.Global},
	} {
		// The throttle counts per (email, client) and per client: with no
		// email both are per client, and only the client limit binds.
		_, retry, err := s.cfg.Throttle.AdmitLogin(ctx, "", c.client,
			pulse.LoginLimits{Window: l.Window, PerAccount: c.limit, PerClient: c.limit})
		if err != nil {
			s.writeStoreError(w, err)
			return false
		}
		if retry > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(retry)))
			writeJSON(w, http.StatusTooManyRequests, errBody("throttled", "too many sign-ups from here; try again later"))
			return false
		}
	}
	return true
}
