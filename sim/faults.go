package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// DefaultSlowDelay is the delay of a slow response when Faults.SlowDelay
// is zero; MaxSlowDelay bounds it.
const (
	DefaultSlowDelay = 2 * time.Second
	MaxSlowDelay     = 5 * time.Minute
)

// Fault says when to inject one kind of failure into a platform's API
// requests (not its OAuth endpoints). Next takes precedence: the next Next
// requests fail; after that each request fails with Probability, drawn from
// a generator seeded by Config.Seed (deterministic for a given request
// order).
type Fault struct {
	// Next is the number of upcoming requests that get the fault.
	Next int `json:"next,omitempty"`
	// Probability in [0, 1] that a request gets the fault.
	Probability float64 `json:"probability,omitempty"`
}

func (f Fault) validate() error {
	if f.Next < 0 {
		return fmt.Errorf("next %d is negative", f.Next)
	}
	if !(f.Probability >= 0 && f.Probability <= 1) {
		return fmt.Errorf("probability %v is not in [0, 1]", f.Probability)
	}
	return nil
}

// fire reports whether the fault applies to this request, consuming Next.
func (f *Fault) fire(rng *rand.Rand) bool {
	if f.Next > 0 {
		f.Next--
		return true
	}
	return f.Probability > 0 && rng.Float64() < f.Probability
}

// Faults is a platform's fault injection. Faults are considered in the
// order of the fields, each at most once per API request: Revoke before the
// token is checked, RateLimit, ServerError and BadRequest instead of the
// answer (at most one of them), Slow before it, Truncate and Malformed on a
// successful answer's body.
type Faults struct {
	// Revoke revokes the request's token (and its pair) before it is
	// checked, so the request gets the platform's invalid-token error (X:
	// 401; Meta: error code 190).
	Revoke Fault `json:"revoke"`
	// RateLimit answers the platform's throttling error (X: 429; Meta: the
	// error code of the request's narrowest limit) as if that limit's window
	// were exhausted.
	RateLimit Fault `json:"rate_limit"`
	// ServerError answers 503 (Meta: HTTP 503 with error code 2).
	ServerError Fault `json:"server_error"`
	// BadRequest answers the platform's 400 for an invalid request (Meta:
	// error code 100), an error retrying cannot fix.
	BadRequest Fault `json:"bad_request"`
	// Slow delays the answer by SlowDelay (or until the request is
	// cancelled).
	Slow Fault `json:"slow"`
	// SlowDelay is Slow's delay, at most MaxSlowDelay. Default
	// DefaultSlowDelay. In JSON, a duration string such as "1.5s".
	SlowDelay time.Duration `json:"-"`
	// Truncate cuts the body of a successful answer in half.
	Truncate Fault `json:"truncate"`
	// Malformed corrupts the body of a successful answer so it is no
	// longer JSON.
	Malformed Fault `json:"malformed"`
}

type faultsAlias Faults

// MarshalJSON encodes SlowDelay as a duration string.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		faultsAlias
		SlowDelay string `json:"slow_delay,omitempty"`
	}{faultsAlias(f), durationString(f.SlowDelay)})
}

// UnmarshalJSON decodes SlowDelay from a duration string. Unknown fields
// are errors, so a misspelt fault is not silently ignored.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var w struct {
		faultsAlias
		SlowDelay string `json:"slow_delay"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return err
	}
	*f = Faults(w.faultsAlias)
	if w.SlowDelay != "" {
		d, err := time.ParseDuration(w.SlowDelay)
		if err != nil {
			return fmt.Errorf("slow_delay: %w", err)
		}
		f.SlowDelay = d
	}
	return nil
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func (f Faults) validate() error {
	for _, c := range []struct {
		name string
		f    Fault
	}{
		{"revoke", f.Revoke}, {"rate_limit", f.RateLimit}, {"server_error", f.ServerError}, {"bad_request", f.BadRequest},
		{"slow", f.Slow}, {"truncate", f.Truncate}, {"malformed", f.Malformed},
	} {
		if err := c.f.validate(); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	if f.SlowDelay < 0 || f.SlowDelay > MaxSlowDelay {
		return fmt.Errorf("slow_delay %v is not in [0, %v]", f.SlowDelay, MaxSlowDelay)
	}
	return nil
}

// slowDelay is the delay of a Slow fault.
func (f Faults) slowDelay() time.Duration {
	if f.SlowDelay == 0 {
		return DefaultSlowDelay
	}
	return f.SlowDelay
}

// SetFaults replaces platform p's fault injection; it takes effect on the
// next request. It fails for an unknown platform or invalid settings.
func (s *Server) SetFaults(p topics.Platform, f Faults) error {
	ps, err := s.state(p)
	if err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return fmt.Errorf("sim: set faults: %s: %w", p, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ps.faults = f
	return nil
}

// Faults returns platform p's current fault injection, with the Next
// counters left; the zero value for an unknown platform.
func (s *Server) Faults(p topics.Platform) Faults {
	ps, err := s.state(p)
	if err != nil {
		return Faults{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return ps.faults
}
