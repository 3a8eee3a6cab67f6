package e2e_test

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pulsehq/pulse/assembly"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

// virtualClock is a clock the test moves.
type virtualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *virtualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *virtualClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// withPostsReads puts the scheduler on clock and, with full, makes every
// fetch a full read of the posts (no cursor).
func withPostsReads(clock func() time.Time, full bool) pipelineOption {
	return func(c *assembly.Config) { c.Scheduler.Clock, c.Scheduler.FullPosts = clock, full }
}

// cursorPlatforms are the platforms the test links, one account each.
var cursorPlatforms = []topics.Platform{topics.X, topics.Facebook, topics.Instagram, topics.LinkedIn}

type cursorSummary struct {
	Summary struct {
		Accounts []struct {
			Platform       string
			AccountID      string
			Followers      int64
			Posts30d       int
			EngagementRate float64
			ObservedAt     time.Time
		}
	}
}

type cursorTotals struct {
	Metrics []struct {
		Platform string
		Points   []struct {
			PostsPublished, LikesGained, CommentsGained int64
		}
	}
	Feed []struct {
		ID, Platform            string
		Likes, Comments, Shares int64
	}
}

// TestIncrementalFetchingChangesNoTotal runs two whole pipelines on one
// virtual clock over the same simulated accounts, one account per
// platform: one reads only new posts from each account's cursor (with the
// decaying refresh), the other reads every post at every fetch, as Pulse
// did before cursors. Every 6 simulated hours for a week each account is
// fetched once. Between refreshes the 30-day post counts and followers
// the API answers agree; after the weekly 30-day re-read every total the
// API answers (followers, 30-day posts and engagement rate, posts
// published, likes and comments gained over all time, the feed's
// counters) is the same, while the incremental pipeline made fewer calls
// on every platform.
func TestIncrementalFetchingChangesNoTotal(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	// After the links' creation (they are due from it, in real time).
	t0 := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	clock := &virtualClock{t: t0}
	type side struct {
		name   string
		p      *pipeline
		token  string
		userID string
	}
	var sides []*side
	for _, full := range []bool{false, true} {
		name := "incremental"
		if full {
			name = "full"
		}
		// Pages enough for the accounts' 30 days of posts (see
		// slowestPoster), so both read the same posts and the page cap
		// plays no part; few enough that a full X read stays below
		// Kafka's 1 MB record limit.
		p := newPipeline(t, clock.Now, clock.Now, withPostsReads(clock.Now, full),
			withScheduler(time.Hour, appOnly(1e6)), withMaxPostPages(12))
		p.startScheduler()
		p.startFetcher()
		p.startNormalizer()
		p.startAggregator()
		p.startSink()
		token, userID := p.mustSignUp(t, "cursor-"+name+"@example.com")
		for _, pl := range cursorPlatforms {
			p.mustLink(userID, pl, slowestPoster(t, p, pl, t0))
		}
		sides = append(sides, &side{name, p, token, userID})
	}
	summary := func(s *side) cursorSummary {
		var out cursorSummary
		if errs := s.p.tryGraphQL(t, s.token, `{ summary { accounts { platform accountId followers posts30d engagementRate observedAt } } }`, nil, &out); errs != nil {
			t.Logf("%s: summary: %v", s.name, errs)
			out.Summary.Accounts = nil
		}
		slices.SortFunc(out.Summary.Accounts, func(a, b struct {
			Platform       string
			AccountID      string
			Followers      int64
			Posts30d       int
			EngagementRate float64
			ObservedAt     time.Time
		}) int {
			return cmp.Compare(a.Platform, b.Platform)
		})
		return out
	}
	// step moves the clock to at and waits until both pipelines have
	// fetched, normalized and aggregated every account at it.
	step := func(at time.Time) [2]cursorSummary {
		clock.Set(at)
		var got [2]cursorSummary
		testkit.Eventually(t, 90*time.Second, func() error {
			for i, s := range sides {
				got[i] = summary(s)
				if n := len(got[i].Summary.Accounts); n != len(cursorPlatforms) {
					return fmt.Errorf("%s: %d accounts in the summary", s.name, n)
				}
				for _, a := range got[i].Summary.Accounts {
					if !a.ObservedAt.Equal(at) {
						return fmt.Errorf("%s: %s observed at %v, want %v", s.name, a.Platform, a.ObservedAt, at)
					}
				}
			}
			return nil
		})
		return got
	}

	const every = 6 * time.Hour
	end := t0.Add(7 * 24 * time.Hour) // the incremental side's weekly 30-day re-read
	for at := t0; !at.After(end); at = at.Add(every) {
		got := step(at)
		inc, full := got[0].Summary.Accounts, got[1].Summary.Accounts
		for i := range inc {
			if inc[i].Followers != full[i].Followers || inc[i].Posts30d != full[i].Posts30d {
				t.Fatalf("%v: %s: incremental followers %d, 30-day posts %d; full %d, %d", at.Sub(t0), inc[i].Platform,
					inc[i].Followers, inc[i].Posts30d, full[i].Followers, full[i].Posts30d)
			}
			if inc[i].Posts30d == 0 {
				t.Fatalf("%s published nothing in 30 days: the test would not tell", inc[i].Platform)
			}
		}
		if at.Equal(end) {
			for i := range inc {
				if math.Abs(inc[i].EngagementRate-full[i].EngagementRate) > 1e-12 {
					t.Errorf("%s: engagement rate %v incremental, %v full", inc[i].Platform, inc[i].EngagementRate, full[i].EngagementRate)
				}
			}
		}
	}

	// Every total the API answers, over all time, once the sinks caught up.
	totals := func(s *side) cursorTotals {
		var out cursorTotals
		s.p.graphql(t, s.token, `query($from: Time!, $to: Time!) {
  metrics(grain: YEAR, from: $from, to: $to) { platform points { postsPublished likesGained commentsGained } }
  feed(limit: 50) { id platform likes comments shares }
}`, map[string]any{"from": time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), "to": end.AddDate(1, 0, 0)}, &out)
		slices.SortFunc(out.Metrics, func(a, b struct {
			Platform string
			Points   []struct{ PostsPublished, LikesGained, CommentsGained int64 }
		}) int {
			return cmp.Compare(a.Platform, b.Platform)
		})
		return out
	}
	sum := func(tt cursorTotals) map[string][3]int64 {
		m := map[string][3]int64{}
		for _, s := range tt.Metrics {
			var v [3]int64
			for _, pt := range s.Points {
				v[0] += pt.PostsPublished
				v[1] += pt.LikesGained
				v[2] += pt.CommentsGained
			}
			m[s.Platform] = v
		}
		return m
	}
	testkit.Eventually(t, 60*time.Second, func() error {
		inc, full := totals(sides[0]), totals(sides[1])
		si, sf := sum(inc), sum(full)
		if len(si) != len(cursorPlatforms) || fmt.Sprint(si) != fmt.Sprint(sf) {
			return fmt.Errorf("totals (posts, likes, comments): incremental %v, full %v", si, sf)
		}
		if len(inc.Feed) == 0 || fmt.Sprint(inc.Feed) != fmt.Sprint(full.Feed) {
			return fmt.Errorf("feed: incremental %v\nfull %v", inc.Feed, full.Feed)
		}
		for p, v := range si {
			if v[0] == 0 || v[1] == 0 {
				return fmt.Errorf("%s: totals %v: nothing to compare", p, v)
			}
		}
		return nil
	})

	// The same fetches, fewer calls.
	fetches := int64(end.Sub(t0)/every) + 1
	for _, pl := range cursorPlatforms {
		inc := sides[0].p.sim.Stats().Platforms[pl].Requests
		full := sides[1].p.sim.Stats().Platforms[pl].Requests
		t.Logf("%s: calls per fetch over %d fetches: incremental %.1f, full %.1f", pl, fetches,
			float64(inc)/float64(fetches), float64(full)/float64(fetches))
		if inc >= full {
			t.Errorf("%s: incremental fetching made %d calls, full fetching %d", pl, inc, full)
		}
	}
}

// slowestPoster returns the simulated account of pl among the first ten
// that published the fewest posts in the 37 days before t0+7d, failing
// the test if even it posted more than 12 pages of Meta's 25.
func slowestPoster(t *testing.T, p *pipeline, pl topics.Platform, t0 time.Time) sim.Account {
	t.Helper()
	end := t0.Add(7 * 24 * time.Hour)
	var best sim.Account
	bestN := -1
	for _, a := range p.sim.Accounts(pl)[:10] {
		posts, err := p.sim.Posts(pl, a.ID, end, 0)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, post := range posts {
			if post.CreatedAt.Before(end.Add(-37 * 24 * time.Hour)) {
				break
			}
			n++
		}
		if bestN < 0 || n < bestN {
			best, bestN = a, n
		}
	}
	if bestN > 12*25 {
		t.Fatalf("%s: the slowest poster published %d posts in 37 days", pl, bestN)
	}
	return best
}
