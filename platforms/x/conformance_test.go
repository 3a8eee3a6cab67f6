package x

import (
	"net/http"
	"testing"
	"time"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/conformance"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

// harness is the conformance harness of the X connector.
var harness = conformance.Harness{
	Platform: topics.X,
	New: func(cfg platforms.Config, clock func() time.Time) (platforms.Connector, error) {
		c, err := New(cfg)
		if err != nil {
			return nil, err
		}
		conn := c.(*Connector)
		conn.backoff = time.Millisecond
		conn.now = clock
		return conn, nil
	},
	WantAccount: func(a sim.Account, m sim.AccountMetrics) platforms.Account {
		return platforms.Account{ID: a.ID, Handle: a.Handle, Followers: m.Followers, Following: m.Following, PostsCount: m.Posts}
	},
	WantPost: func(_ sim.Account, p sim.Post) platforms.PostData {
		return platforms.PostData{
			ID: p.ID, CreatedAt: p.CreatedAt, Text: p.Text, Permalink: permalinkPrefix + p.ID,
			Likes: p.Likes, Comments: p.Replies, Shares: p.Reposts + p.Quotes, Views: p.Impressions,
		}
	},
	ExchangeTTL: sim.AccessTTL,
	RateLimits: []conformance.RateLimitCase{
		{
			Name: "users/me window exhausted",
			Sim:  func(c *sim.Config) { c.X.UsersMe = sim.Limit{Requests: 1} },
			Check: func(t *testing.T, now time.Time, pe *platforms.Error) {
				conformance.HTTPStatus(http.StatusTooManyRequests)(t, now, pe)
				if pe.Limit.Remaining != 0 || pe.Limit.Limit != 1 || !pe.RetryAfter.Equal(conformance.Start.Add(sim.DefaultWindow)) {
					t.Errorf("limit %+v, RetryAfter %v", pe.Limit, pe.RetryAfter)
				}
			},
		},
		{
			Name: "timeline window exhausted",
			Sim:  func(c *sim.Config) { c.X.UserTweets = sim.Limit{Requests: 2} },
			Check: func(t *testing.T, now time.Time, pe *platforms.Error) {
				if pe.Op != opPosts || pe.Limit.Remaining != 0 || pe.Limit.Limit != 2 {
					t.Errorf("error %+v", pe)
				}
			},
		},
		{
			Name:   "injected 429",
			Faults: &sim.Faults{RateLimit: sim.Fault{Next: 1}},
			Check:  conformance.HTTPStatus(http.StatusTooManyRequests),
		},
	},
}

func TestConformance(t *testing.T) { conformance.Run(t, harness) }
