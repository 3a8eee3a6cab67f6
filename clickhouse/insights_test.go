package clickhouse_test

import (
	"context"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/topics"
)

func i64(n int64) *int64 { return &n }

// TestInsightsAtEveryGrain writes daily insights across a month and a year
// boundary, each day first as its value so far and then final (in either
// order of arrival), twice, and reads them at every grain: hour (the day's
// first hour), day, month and year hold the sums of the final values; a
// metric never reported is nil, and another user's insights never show.
func TestInsightsAtEveryGrain(t *testing.T) {
	db := chtest.MustOpen(t)
	ctx := context.Background()
	first := time.Date(2025, 12, 29, 0, 0, 0, 0, time.UTC)
	const days = 6 // 2025-12-29 .. 2026-01-03
	final := func(d int) (int64, int64) { return int64(100 + 10*d), int64(7 + d) }
	var snaps []topics.AccountSnapshot
	for d := range days {
		day := first.AddDate(0, 0, d)
		r, pv := final(d)
		partial := snap("u1", "a", day.Add(12*time.Hour), 50, day.Add(12*time.Hour).UnixMilli())
		partial.Insights = []topics.DayInsights{{Day: day, Reach: i64(r / 2), ProfileViews: i64(pv / 2)}}
		done := snap("u1", "a", day.Add(24*time.Hour+time.Hour), 51, day.Add(25*time.Hour).UnixMilli())
		done.Insights = []topics.DayInsights{{Day: day, Reach: i64(r), ProfileViews: i64(pv)}}
		if d%2 == 0 {
			snaps = append(snaps, done, partial) // the final value may arrive first
		} else {
			snaps = append(snaps, partial, done)
		}
	}
	other := snap("u2", "b", first, 1, 1)
	other.Insights = []topics.DayInsights{{Day: first, Reach: i64(999)}}
	snaps = append(snaps, other)
	for range 2 {
		if err := db.InsertSnapshots(ctx, snaps); err != nil {
			t.Fatal(err)
		}
	}

	sum := func(from, to int) (int64, int64) {
		var r, pv int64
		for d := from; d < to; d++ {
			a, b := final(d)
			r, pv = r+a, pv+b
		}
		return r, pv
	}
	for _, tc := range []struct {
		grain   pulse.Grain
		buckets []time.Time
		ranges  [][2]int // days summed per bucket
	}{
		{pulse.GrainHour, nil, nil},
		{pulse.GrainDay, nil, nil},
		{pulse.GrainMonth, []time.Time{time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, [][2]int{{0, 3}, {3, 6}}},
		{pulse.GrainYear, []time.Time{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, [][2]int{{0, 3}, {3, 6}}},
	} {
		if tc.buckets == nil {
			for d := range days {
				tc.buckets = append(tc.buckets, first.AddDate(0, 0, d))
				tc.ranges = append(tc.ranges, [2]int{d, d + 1})
			}
		}
		pts, err := db.Series(ctx, pulse.SeriesQuery{UserID: "u1", Grain: tc.grain, From: first, To: first.AddDate(0, 0, days+2)})
		if err != nil {
			t.Fatal(err)
		}
		got := map[time.Time]pulse.Point{}
		for _, p := range pts {
			if p.Reach != nil {
				got[p.Bucket] = p
			}
		}
		if len(got) != len(tc.buckets) {
			t.Errorf("%s: %d buckets with insights, want %d: %+v", tc.grain, len(got), len(tc.buckets), pts)
		}
		for i, b := range tc.buckets {
			p, ok := got[b]
			r, pv := sum(tc.ranges[i][0], tc.ranges[i][1])
			if !ok || *p.Reach != r || p.ProfileViews == nil || *p.ProfileViews != pv || p.Views != nil {
				t.Errorf("%s %v: %+v, want reach %d, profile views %d, no views", tc.grain, b, p, r, pv)
			}
		}
	}
}

// TestFeedCarriesPostInsights: a post's latest reach and saves show in the
// feed; a post without insights has zeros; duplicates change nothing.
func TestFeedCarriesPostInsights(t *testing.T) {
	db := chtest.MustOpen(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	post := func(id string, obs time.Time, reach, saves int64) topics.Post {
		return topics.Post{LinkID: "l", UserID: "u1", Platform: topics.Instagram, AccountID: "a", PostID: id,
			CreatedAt: at, ObservedAt: obs, Likes: 5, Views: 9, Reach: reach, Saves: saves, Version: obs.UnixMilli()}
	}
	for range 2 {
		if err := db.InsertPosts(ctx, []topics.Post{
			post("p1", at.Add(time.Hour), 10, 1), post("p1", at.Add(3*time.Hour), 30, 4), post("p2", at.Add(time.Hour), 0, 0),
		}); err != nil {
			t.Fatal(err)
		}
	}
	feed, err := db.Feed(ctx, pulse.FeedQuery{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]int64{}
	for _, p := range feed {
		got[p.PostID] = [2]int64{p.Reach, p.Saves}
	}
	if len(feed) != 2 || got["p1"] != [2]int64{30, 4} || got["p2"] != [2]int64{0, 0} {
		t.Fatalf("feed %+v, want p1 with reach 30 and 4 saves, p2 with none", feed)
	}
	if other, err := db.Feed(ctx, pulse.FeedQuery{UserID: "u2"}); err != nil || len(other) != 0 {
		t.Fatalf("another user's feed: %+v, %v", other, err)
	}
}
