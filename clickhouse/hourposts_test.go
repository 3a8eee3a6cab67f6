package clickhouse

import (
	"slices"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// TestGainsScanStart checks the bound the hourly gains' scan starts at,
// the expression the statement computed in SQL before: the earliest
// creation's hour less a day, the epoch for creations in its first two
// days, and no scan when no post was observed.
func TestGainsScanStart(t *testing.T) {
	created := time.Date(2026, 3, 10, 8, 20, 5, 0, time.UTC)
	if got, ok := gainsScanStart(3, created); !ok || !got.Equal(time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("created %v: start %v %v, want 2026-03-09 08:00", created, got, ok)
	}
	if got, ok := gainsScanStart(1, time.Unix(172800, 0)); !ok || got.Unix() != 0 {
		t.Errorf("created at 172800: start %v %v, want the epoch", got, ok)
	}
	if got, ok := gainsScanStart(1, time.Unix(172801, 0)); !ok || got.Unix() != 172800-86400 {
		t.Errorf("created at 172801: start %v %v, want 86400", got.Unix(), ok)
	}
	if _, ok := gainsScanStart(0, time.Unix(0, 0)); ok {
		t.Error("no observation: a scan")
	}
}

// TestExportKeepsTheBucketsSeriesKeeps: an hour where a post was observed
// again without a gain, and no follower count, is no point of Series and
// no row of ExportMetrics; the hour of its first observation (a gain) is
// in both.
func TestExportKeepsTheBucketsSeriesKeeps(t *testing.T) {
	db := mustOpenTest(t)
	h0 := time.Date(2026, 1, 2, 6, 0, 0, 0, time.UTC)
	snap := topics.AccountSnapshot{UserID: "u", LinkID: "l", Platform: topics.X, AccountID: "a", Handle: "@a",
		Hour: h0, ObservedAt: h0.Add(time.Minute), Followers: 10, Version: 1}
	post := func(h time.Time, v int64) topics.Post {
		return topics.Post{UserID: "u", LinkID: "l", Platform: topics.X, AccountID: "a", PostID: "p", CreatedAt: h0.Add(-time.Hour),
			ObservedAt: h.Add(2 * time.Minute), Likes: 5, Comments: 1, Version: v}
	}
	if err := db.Write(t.Context(), []topics.AccountSnapshot{snap}, []topics.Post{post(h0, 1), post(h0.Add(time.Hour), 2)}); err != nil {
		t.Fatal(err)
	}
	q := pulse.SeriesQuery{UserID: "u", Grain: pulse.GrainHour, From: h0.Add(-2 * time.Hour), To: h0.Add(3 * time.Hour)}
	pts, err := db.Series(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	var series, export []time.Time
	for _, p := range pts {
		series = append(series, p.Bucket)
	}
	if err := db.ExportMetrics(t.Context(), q, 0, func(b *pulse.MetricsBatch) error {
		export = append(export, b.Bucket...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The post was created in the hour before h0: published there.
	want := []time.Time{h0.Add(-time.Hour), h0}
	if !slices.EqualFunc(series, want, time.Time.Equal) || !slices.EqualFunc(export, want, time.Time.Equal) {
		t.Fatalf("series buckets %v, export buckets %v, want %v for both", series, export, want)
	}
}
