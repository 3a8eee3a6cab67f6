package api_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/topics"
)

// trendData is random hourly observations of a few accounts on two
// platforms around a year boundary, with gaps (most hours are missing),
// several versions of some hours, and post observations.
type trendData struct {
	snaps []topics.AccountSnapshot
	posts []topics.Post
}

type trendAcct struct {
	platform topics.Platform
	id       string
}

func genTrendData(rng *rand.Rand, userID string) (trendData, []trendAcct) {
	var d trendData
	from := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC)
	hours := int(to.Sub(from) / time.Hour)
	accts := []trendAcct{{topics.X, "x-1"}, {topics.X, "x-2"}, {topics.Instagram, "ig-1"}}
	for ai, a := range accts {
		followers := int64(1000 + rng.IntN(5000))
		// Each account starts observing at a different time.
		first := rng.IntN(hours / 3)
		for h := first; h < hours; h++ {
			if rng.Float64() > 0.25 {
				continue // a gap
			}
			hour := from.Add(time.Duration(h) * time.Hour)
			for v := 0; v < 1+rng.IntN(2); v++ {
				followers += int64(rng.IntN(61) - 20)
				obs := hour.Add(time.Duration(rng.IntN(3600_000)) * time.Millisecond)
				d.snaps = append(d.snaps, topics.AccountSnapshot{
					V: topics.AccountSnapshotVersion, LinkID: "link-" + a.id, UserID: userID, Platform: a.platform,
					AccountID: a.id, Handle: "@" + a.id, Hour: hour, ObservedAt: obs, Followers: followers,
					Following: int64(100 + rng.IntN(50)), PostsCount: int64(rng.IntN(300)), Version: obs.UnixMilli(),
				})
			}
		}
		for p := 0; p < 3; p++ {
			created := from.Add(time.Duration(first+rng.IntN(hours-first-48)) * time.Hour).Add(time.Duration(rng.IntN(3600)) * time.Second)
			likes, comments := int64(0), int64(0)
			id := fmt.Sprintf("post-%d-%d", ai, p)
			for h := int(created.Sub(from)/time.Hour) + 1; h < hours; h++ {
				if rng.Float64() > 0.05 {
					continue
				}
				likes += int64(rng.IntN(40))
				comments += int64(rng.IntN(6))
				obs := from.Add(time.Duration(h) * time.Hour).Add(time.Duration(rng.IntN(3600_000)) * time.Millisecond)
				d.posts = append(d.posts, topics.Post{
					V: topics.PostVersion, LinkID: "link-" + a.id, UserID: userID, Platform: a.platform, AccountID: a.id,
					PostID: id, CreatedAt: created, ObservedAt: obs, Text: "t", Permalink: "https://example.com/" + id,
					Likes: likes, Comments: comments, Version: obs.UnixMilli(),
				})
			}
		}
	}
	return d, accts
}

// bucketOf is the start of t's bucket at grain g (UTC).
func bucketOf(g string, t time.Time) time.Time {
	t = t.UTC()
	switch g {
	case "HOUR":
		return t.Truncate(time.Hour)
	case "DAY":
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case "MONTH":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
}

func nextBucket(g string, t time.Time, k int) time.Time {
	switch g {
	case "HOUR":
		return t.Add(time.Duration(k) * time.Hour)
	case "DAY":
		return t.AddDate(0, 0, k)
	case "MONTH":
		return t.AddDate(0, k, 0)
	}
	return t.AddDate(k, 0, 0)
}

// bucketIndex numbers buckets consecutively (for the moving average's
// window).
func bucketIndex(g string, t time.Time) int64 {
	switch g {
	case "HOUR":
		return t.Unix() / 3600
	case "DAY":
		return t.Unix() / 86400
	case "MONTH":
		return int64(t.Year())*12 + int64(t.Month())
	}
	return int64(t.Year())
}

type modelPoint struct {
	at                time.Time
	value             int64
	change            *int64
	ma, fit           float64
	followers, gained int64
	eng               float64
}

type modelTrend struct {
	value                int64
	prev                 *int64
	slope, intercept, r2 float64
	points, previous     []modelPoint
	bestAt, worstAt      *time.Time
	hasBest              bool
	platform             string
	changePct            *float64
	level                bool
	metric               string
}

// expectTrends computes, from the raw observations alone, what trends
// should answer: per account the hourly values (highest version), the
// bucket values (a level's last hourly value; post gains per bucket), then
// per group the totals with each account's last value carried forward.
func (d trendData) expectTrends(accts []trendAcct, metric, grain string, from, to time.Time, window int) map[string]*modelTrend {
	start := bucketOf(grain, from)
	n := 0
	for b := start; b.Before(to); b = nextBucket(grain, b, 1) {
		n++
	}
	spanStart := nextBucket(grain, start, -n)
	level := metric == "FOLLOWERS" || metric == "FOLLOWING"

	// Hourly values: the highest version of each (account, hour).
	type hk struct {
		acct string
		hour time.Time
	}
	best := map[hk]topics.AccountSnapshot{}
	for _, s := range d.snaps {
		k := hk{s.AccountID, s.Hour}
		if cur, ok := best[k]; !ok || s.Version > cur.Version {
			best[k] = s
		}
	}
	// Bucket level values: the last hour's value.
	type bk struct {
		acct   string
		bucket time.Time
	}
	type lv struct {
		hour     time.Time
		fol, val int64
	}
	levels := map[bk]lv{}
	for k, s := range best {
		b := bucketOf(grain, k.hour)
		if b.Before(spanStart) || !b.Before(to) {
			continue
		}
		v := s.Following
		if metric == "FOLLOWERS" {
			v = s.Followers
		}
		if cur, ok := levels[bk{k.acct, b}]; !ok || k.hour.After(cur.hour) {
			levels[bk{k.acct, b}] = lv{k.hour, s.Followers, v}
		}
	}
	// Post flows per (account, bucket): for each bucket a post was
	// observed in, its last counters by the bucket's end minus its last
	// before the bucket's start (0 when none); posts created in a bucket.
	type flow struct{ likes, comments, pub int64 }
	flows := map[bk]*flow{}
	byPost := map[string][]topics.Post{}
	for _, p := range d.posts {
		byPost[p.PostID] = append(byPost[p.PostID], p)
	}
	for _, obs := range byPost {
		sort.Slice(obs, func(i, j int) bool { return obs[i].Version < obs[j].Version })
		p0 := obs[0]
		if cb := bucketOf(grain, p0.CreatedAt); !cb.Before(spanStart) && cb.Before(to) {
			f := flows[bk{p0.AccountID, cb}]
			if f == nil {
				f = &flow{}
				flows[bk{p0.AccountID, cb}] = f
			}
			f.pub++
		}
		seen := map[time.Time]bool{}
		for _, o := range obs {
			b := bucketOf(grain, o.ObservedAt)
			if seen[b] || b.Before(spanStart) || !b.Before(to) {
				continue
			}
			seen[b] = true
			end := nextBucket(grain, b, 1)
			var lastIn, lastBefore topics.Post
			for _, x := range obs {
				h := x.ObservedAt.Truncate(time.Hour)
				if h.Before(b) {
					lastBefore = x
				} else if h.Before(end) {
					lastIn = x
				}
			}
			f := flows[bk{o.AccountID, b}]
			if f == nil {
				f = &flow{}
				flows[bk{o.AccountID, b}] = f
			}
			f.likes += lastIn.Likes - lastBefore.Likes
			f.comments += lastIn.Comments - lastBefore.Comments
		}
	}

	out := map[string]*modelTrend{}
	groups := map[string][]trendAcct{"": accts}
	for _, a := range accts {
		groups[string(a.platform)] = append(groups[string(a.platform)], a)
	}
	for g, members := range groups {
		bucketSet := map[time.Time]bool{}
		for _, a := range members {
			for k := range levels {
				if k.acct == a.id {
					bucketSet[k.bucket] = true
				}
			}
			for k := range flows {
				if k.acct == a.id {
					bucketSet[k.bucket] = true
				}
			}
		}
		var buckets []time.Time
		for b := range bucketSet {
			buckets = append(buckets, b)
		}
		sort.Slice(buckets, func(i, j int) bool { return buckets[i].Before(buckets[j]) })
		mt := &modelTrend{platform: g, level: level, metric: metric}
		var all []modelPoint
		lastVal, lastFol := map[string]int64{}, map[string]int64{}
		for _, b := range buckets {
			var p modelPoint
			p.at = b
			var flowV int64
			for _, a := range members {
				if l, ok := levels[bk{a.id, b}]; ok {
					lastVal[a.id], lastFol[a.id] = l.val, l.fol
				}
				p.value += lastVal[a.id]
				p.followers += lastFol[a.id]
				if f := flows[bk{a.id, b}]; f != nil {
					p.gained += f.likes + f.comments
					switch metric {
					case "LIKES_GAINED":
						flowV += f.likes
					case "COMMENTS_GAINED":
						flowV += f.comments
					case "POSTS_PUBLISHED":
						flowV += f.pub
					}
				}
			}
			if !level {
				p.value = flowV
			}
			if p.followers > 0 {
				p.eng = float64(p.gained) / float64(p.followers)
			}
			all = append(all, p)
		}
		for i := range all {
			if level && i > 0 {
				c := all[i].value - all[i-1].value
				all[i].change = &c
			} else if !level {
				c := all[i].value
				all[i].change = &c
			}
			var sum float64
			var cnt int
			ki := bucketIndex(grain, all[i].at)
			for _, q := range all {
				if k := bucketIndex(grain, q.at); k > ki-int64(window) && k <= ki {
					sum += float64(q.value)
					cnt++
				}
			}
			all[i].ma = sum / float64(cnt)
		}
		var xs, ys []float64
		for _, p := range all {
			if p.at.Before(start) {
				continue
			}
			xs = append(xs, p.at.Sub(start).Hours()/24)
			ys = append(ys, float64(p.value))
		}
		var mx, my float64
		for i := range xs {
			mx += xs[i]
			my += ys[i]
		}
		if len(xs) > 0 {
			mx /= float64(len(xs))
			my /= float64(len(xs))
		}
		var sxy, sxx, syy float64
		for i := range xs {
			sxy += (xs[i] - mx) * (ys[i] - my)
			sxx += (xs[i] - mx) * (xs[i] - mx)
			syy += (ys[i] - my) * (ys[i] - my)
		}
		if len(xs) > 1 && sxx > 0 {
			mt.slope = sxy / sxx
		}
		if len(xs) > 0 {
			mt.intercept = my - mt.slope*mx
		}
		switch {
		case len(xs) < 2:
			mt.r2 = 0
		case syy == 0:
			mt.r2 = 1
		default:
			mt.r2 = sxy * sxy / (sxx * syy)
		}
		var bestC, worstC int64
		var flowSum, prevSum int64
		for _, p := range all {
			p.fit = mt.intercept + mt.slope*p.at.Sub(start).Hours()/24
			if p.at.Before(start) {
				mt.previous = append(mt.previous, p)
				prevSum += p.value
				continue
			}
			mt.points = append(mt.points, p)
			flowSum += p.value
			if p.change != nil {
				if !mt.hasBest || *p.change > bestC {
					bestC, mt.bestAt = *p.change, &mt.points[len(mt.points)-1].at
				}
				if !mt.hasBest || *p.change < worstC {
					worstC, mt.worstAt = *p.change, &mt.points[len(mt.points)-1].at
				}
				mt.hasBest = true
			}
		}
		if level {
			if len(mt.points) > 0 {
				mt.value = mt.points[len(mt.points)-1].value
			}
			if len(mt.previous) > 0 {
				v := mt.previous[len(mt.previous)-1].value
				mt.prev = &v
			}
		} else {
			mt.value = flowSum
			mt.prev = &prevSum
		}
		if mt.prev != nil && *mt.prev != 0 {
			pct := float64(mt.value-*mt.prev) / float64(*mt.prev) * 100
			mt.changePct = &pct
		}
		out[g] = mt
	}
	return out
}

type gqlTrendPoint struct {
	At             time.Time
	Value          int64
	Change         *int64
	MovingAverage  float64
	Fit            float64
	Followers      int64
	Gained         int64
	EngagementRate float64
}

type gqlTrend struct {
	Platform      *string
	Metric        string
	Value         int64
	PreviousValue *int64
	Change        *int64
	ChangePercent *float64
	SlopePerDay   float64
	Intercept     float64
	R2            float64
	Best, Worst   *gqlTrendPoint
	Points        []gqlTrendPoint
	Previous      []gqlTrendPoint
}

const trendsQuery = `query T($metric: TrendMetric, $grain: Grain!, $from: Time!, $to: Time!, $platforms: [Platform!], $window: Int) {
  trends(metric: $metric, grain: $grain, from: $from, to: $to, platforms: $platforms, window: $window) {
    platform metric value previousValue change changePercent slopePerDay intercept r2
    best { at value change } worst { at value change }
    points { at value change movingAverage fit followers gained engagementRate }
    previous { at value change movingAverage fit followers gained engagementRate }
  }
}`

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-6*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// TestTrendsMatchAModelOfTheHourlyRows checks every trend number GraphQL
// answers against values computed in this test from the raw observations:
// random data with gaps and duplicate versions, ranges across the 2025/2026
// year boundary, every grain, a level and two flow metrics, per platform
// and for all platforms.
func TestTrendsMatchAModelOfTheHourlyRows(t *testing.T) {
	ch := chtest.MustOpen(t)
	e := newEnv(t, func(c *api.Config) { c.Metrics = ch })
	b := e.browser(t)
	userID, _ := b.signUp("trend@example.com")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 13))
	d, accts := genTrendData(rng, userID)
	// Another user's data must not show.
	other, _ := genTrendData(rng, "someone-else")
	rng.Shuffle(len(d.posts), func(i, j int) { d.posts[i], d.posts[j] = d.posts[j], d.posts[i] })
	for i := 0; i < 3; i++ { // in chunks, posts out of order
		if err := ch.Write(t.Context(), d.snaps[i*len(d.snaps)/3:(i+1)*len(d.snaps)/3], d.posts[i*len(d.posts)/3:(i+1)*len(d.posts)/3]); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.Write(t.Context(), other.snaps, other.posts); err != nil {
		t.Fatal(err)
	}

	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		metric, grain string
		from, to      time.Time
		window        int
		platforms     []string
	}{
		{"FOLLOWERS", "DAY", ts("2025-12-20T00:00:00Z"), ts("2026-01-15T00:00:00Z"), 7, nil},
		{"FOLLOWERS", "HOUR", ts("2025-12-31T09:30:00Z"), ts("2026-01-01T15:00:00Z"), 5, nil},
		{"FOLLOWERS", "MONTH", ts("2026-01-01T00:00:00Z"), ts("2026-03-01T00:00:00Z"), 2, nil},
		{"FOLLOWERS", "YEAR", ts("2026-01-01T00:00:00Z"), ts("2027-01-01T00:00:00Z"), 1, nil},
		{"FOLLOWING", "DAY", ts("2025-12-25T12:00:00Z"), ts("2026-01-08T00:00:00Z"), 3, []string{"X"}},
		{"LIKES_GAINED", "DAY", ts("2025-12-15T00:00:00Z"), ts("2026-01-20T00:00:00Z"), 7, nil},
		{"COMMENTS_GAINED", "HOUR", ts("2025-12-28T00:00:00Z"), ts("2026-01-05T00:00:00Z"), 24, nil},
		{"POSTS_PUBLISHED", "MONTH", ts("2025-12-01T00:00:00Z"), ts("2026-02-01T00:00:00Z"), 1, nil},
	} {
		name := fmt.Sprintf("%s/%s/%s", c.metric, c.grain, c.from.Format(time.DateOnly))
		var got struct{ Trends []gqlTrend }
		vars := map[string]any{"metric": c.metric, "grain": c.grain, "from": c.from, "to": c.to, "window": c.window}
		members := accts
		if c.platforms != nil {
			vars["platforms"] = c.platforms
			members = nil
			for _, a := range accts {
				if a.platform == topics.X {
					members = append(members, a)
				}
			}
		}
		b.mustGraphQL(trendsQuery, vars, &got)
		want := d.expectTrends(members, c.metric, c.grain, c.from, c.to, c.window)
		if len(got.Trends) != len(want) {
			t.Fatalf("%s: %d trends, want %d", name, len(got.Trends), len(want))
		}
		if got.Trends[0].Platform != nil {
			t.Errorf("%s: the first trend is for %s, want all platforms", name, *got.Trends[0].Platform)
		}
		for _, gt := range got.Trends {
			key := ""
			if gt.Platform != nil {
				key = string(fromGQLPlatform(*gt.Platform))
			}
			compareTrend(t, name+"/"+key, gt, want[key])
		}
	}
}

func fromGQLPlatform(p string) topics.Platform {
	switch p {
	case "X":
		return topics.X
	case "INSTAGRAM":
		return topics.Instagram
	case "FACEBOOK":
		return topics.Facebook
	}
	return topics.LinkedIn
}

func compareTrend(t *testing.T, name string, got gqlTrend, want *modelTrend) {
	t.Helper()
	if want == nil {
		t.Errorf("%s: unexpected trend", name)
		return
	}
	if len(want.points) == 0 {
		t.Fatalf("%s: the model has no points: the case tests nothing", name)
	}
	eqPtr := func(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	if got.Value != want.value || !eqPtr(got.PreviousValue, want.prev) {
		t.Errorf("%s: value %d previous %v, want %d %v", name, got.Value, deref(got.PreviousValue), want.value, deref(want.prev))
	}
	if want.prev != nil && (got.Change == nil || *got.Change != want.value-*want.prev) {
		t.Errorf("%s: change %v, want %d", name, deref(got.Change), want.value-*want.prev)
	}
	if (got.ChangePercent == nil) != (want.changePct == nil) || (want.changePct != nil && !near(*got.ChangePercent, *want.changePct)) {
		t.Errorf("%s: changePercent %v, want %v", name, got.ChangePercent, want.changePct)
	}
	if !near(got.SlopePerDay, want.slope) || !near(got.Intercept, want.intercept) || !near(got.R2, want.r2) {
		t.Errorf("%s: fit slope %v intercept %v r2 %v, want %v %v %v", name, got.SlopePerDay, got.Intercept, got.R2,
			want.slope, want.intercept, want.r2)
	}
	if (got.Best == nil) != (want.bestAt == nil) || (got.Best != nil && (!got.Best.At.Equal(*want.bestAt) || !got.Worst.At.Equal(*want.worstAt))) {
		t.Errorf("%s: best %+v worst %+v, want at %v and %v", name, got.Best, got.Worst, want.bestAt, want.worstAt)
	}
	cmp := func(what string, gp []gqlTrendPoint, wp []modelPoint) {
		if len(gp) != len(wp) {
			t.Errorf("%s %s: %d points, want %d", name, what, len(gp), len(wp))
			return
		}
		for i := range gp {
			g, w := gp[i], wp[i]
			if !g.At.Equal(w.at) || g.Value != w.value || !eqPtr(g.Change, w.change) || !near(g.MovingAverage, w.ma) ||
				!near(g.Fit, w.fit) || g.Followers != w.followers || g.Gained != w.gained || !near(g.EngagementRate, w.eng) {
				t.Errorf("%s %s point %d:\n got %+v change %v\nwant %+v change %v", name, what, i, g, deref(g.Change), w, deref(w.change))
				return
			}
		}
	}
	cmp("points", got.Points, want.points)
	cmp("previous", got.Previous, want.previous)
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
