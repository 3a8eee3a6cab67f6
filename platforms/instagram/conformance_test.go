package instagram

import (
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
	conn.g.Backoff = time.Millisecond
	conn.g.Now = clock
	return conn, nil
}

// checkMeta returns a rate-limit check: Meta error code, usage at 100%
// and, for a business-use-case limit, RetryAfter at the estimate.
func checkMeta(code int, estimate bool) func(*testing.T, time.Time, *platforms.Error) {
	return func(t *testing.T, now time.Time, pe *platforms.Error) {
		t.Helper()
		if pe.Code != code || pe.Limit.UsagePct != 100 {
			t.Errorf("error %+v, want code %d at 100%% usage", pe, code)
		}
		if estimate && (pe.Limit.Reset.IsZero() || !pe.RetryAfter.Equal(pe.Limit.Reset)) {
			t.Errorf("RetryAfter %v, want estimated_time_to_regain_access (%v)", pe.RetryAfter, pe.Limit.Reset)
		}
		if !estimate && !pe.RetryAfter.Equal(now.Add(time.Hour)) {
			t.Errorf("RetryAfter %v, want an hour from %v", pe.RetryAfter, now)
		}
	}
}

var harness = conformance.Harness{
	Platform: topics.Instagram,
	New:      newTest,
	WantAccount: func(a sim.Account, m sim.AccountMetrics) platforms.Account {
		return platforms.Account{ID: a.ID, Handle: a.Handle, Followers: m.Followers, Following: m.Following, PostsCount: m.Posts}
	},
	WantPost: func(_ sim.Account, p sim.Post) platforms.PostData {
		return platforms.PostData{
			ID: p.ID, CreatedAt: p.CreatedAt, Text: p.Text, Permalink: p.Permalink,
			Likes: p.Likes, Comments: p.Replies,
			Reach: p.Reach, Views: p.Impressions, Saves: p.Bookmarks, Shares: p.Reposts,
		}
	},
	MultiAccount:          true,
	RetiredMetric:         "profile_views",
	Retire:                func(c *sim.Config, names []string) { c.Instagram.RetiredMetrics = names },
	ExchangeTTL:           sim.MetaLongLivedTTL,
	RefreshNeedsLiveToken: true,
	RateLimits: []conformance.RateLimitCase{
		{
			Name:  "app limit (code 4)",
			Sim:   func(c *sim.Config) { c.Instagram.App = sim.Limit{Requests: 4} },
			Check: checkMeta(4, false),
		},
		{
			Name:  "200 calls per account per hour (code 80002)",
			Sim:   func(c *sim.Config) { c.Instagram.User = sim.Limit{Requests: 4} },
			Check: checkMeta(80002, true),
		},
		{
			Name:   "injected throttle",
			Faults: &sim.Faults{RateLimit: sim.Fault{Next: 1}},
			Check:  checkMeta(80002, true),
		},
	},
}

func TestConformance(t *testing.T) { conformance.Run(t, harness) }
