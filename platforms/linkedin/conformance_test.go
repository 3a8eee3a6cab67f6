package linkedin

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/conformance"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

// newTest builds a connector for tests: fast retries, the given clock.
func newTest(cfg platforms.Config, clock func() time.Time) (platforms.Connector, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	conn := c.(*Connector)
	conn.backoff = time.Millisecond
	conn.now = clock
	return conn, nil
}

// checkDaily returns a rate-limit check: HTTP 429 naming the exhausted
// limit (meter "APPLICATION" or "MEMBER"; "" not checked), nothing left,
// and RetryAfter at the next midnight UTC.
func checkDaily(meter string) func(*testing.T, time.Time, *platforms.Error) {
	return func(t *testing.T, now time.Time, pe *platforms.Error) {
		t.Helper()
		conformance.HTTPStatus(http.StatusTooManyRequests)(t, now, pe)
		midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
		if !pe.RetryAfter.Equal(midnight) || !pe.Limit.Reset.Equal(midnight) || pe.Limit.Remaining != 0 {
			t.Errorf("RetryAfter %v, limit %+v; want nothing left until %v", pe.RetryAfter, pe.Limit, midnight)
		}
		if meter != "" && !strings.Contains(pe.Error(), "throttle "+meter+" DAY limit") {
			t.Errorf("error %q does not name the %s limit", pe, meter)
		}
	}
}

var harness = conformance.Harness{
	Platform: topics.LinkedIn,
	New:      newTest,
	WantAccount: func(a sim.Account, m sim.AccountMetrics) platforms.Account {
		return platforms.Account{ID: a.ID, Handle: a.Handle, Followers: m.Followers}
	},
	WantPost: func(_ sim.Account, p sim.Post) platforms.PostData {
		return platforms.PostData{
			ID: p.ID, CreatedAt: p.CreatedAt, Text: p.Text, Permalink: p.Permalink,
			Likes: p.Likes, Comments: p.Replies, Shares: p.Reposts, Views: p.Impressions,
		}
	},
	ExchangeTTL: sim.LinkedInAccessTTL,
	// The suite expects RFC 6749's access_denied on a denied consent;
	// LinkedIn says user_cancelled_authorize (the simulator's default).
	Sim:          func(c *sim.Config) { c.LinkedIn.DenyError = "access_denied" },
	MultiAccount: true,
	HistoryOnly:  true,
	RateLimits: []conformance.RateLimitCase{
		{
			Name:  "app daily limit",
			Sim:   func(c *sim.Config) { c.LinkedIn.App = sim.Limit{Requests: 3} },
			Check: checkDaily("APPLICATION"),
		},
		{
			Name:  "member daily limit",
			Sim:   func(c *sim.Config) { c.LinkedIn.Member = sim.Limit{Requests: 2} },
			Check: checkDaily("MEMBER"),
		},
		{
			Name:   "injected 429",
			Faults: &sim.Faults{RateLimit: sim.Fault{Next: 1}},
			Check:  checkDaily(""),
		},
	},
}

func TestConformance(t *testing.T) { conformance.Run(t, harness) }
