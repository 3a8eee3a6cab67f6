package clickhouse_test

import (
	"context"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) {
	testkit.WrapTestMain(m)
}

func snap(user, acct string, hour time.Time, followers int64, version int64) topics.AccountSnapshot {
	return topics.AccountSnapshot{
		LinkID: "link-" + acct, UserID: user, Platform: topics.X, AccountID: acct, Handle: "@" + acct,
		Hour: hour, ObservedAt: hour.Add(time.Duration(version) * time.Second), Followers: followers,
		Following: 10, PostsCount: 3, Version: version,
	}
}

func mustInsert(t *testing.T, db *clickhouse.DB, snaps ...topics.AccountSnapshot) {
	t.Helper()
	if err := db.InsertSnapshots(context.Background(), snaps); err != nil {
		t.Fatalf("insert: %v", err)
	}
}

func TestSeriesLatestVersionWinsAndDuplicatesDoNotCount(t *testing.T) {
	db := chtest.MustOpen(t)
	ctx := context.Background()
	h0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	mustInsert(t, db,
		snap("u1", "a", h0, 100, 1),
		snap("u1", "a", h0, 105, 2), // later in the same hour: wins
		snap("u1", "a", h0.Add(time.Hour), 110, 3),
		snap("u2", "b", h0, 999, 1), // another user: never visible to u1
	)
	mustInsert(t, db, snap("u1", "a", h0, 105, 2), snap("u1", "a", h0.Add(time.Hour), 110, 3)) // duplicate batch

	hourly, err := db.Series(ctx, pulse.SeriesQuery{UserID: "u1", Grain: pulse.GrainHour, From: h0, To: h0.Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(hourly) != 2 || hourly[0].Followers != 105 || hourly[1].Followers != 110 || !hourly[0].Bucket.Equal(h0) {
		t.Fatalf("hourly = %+v, want [105 at %v, 110]", hourly, h0)
	}
	daily, err := db.Series(ctx, pulse.SeriesQuery{UserID: "u1", Grain: pulse.GrainDay, From: h0.Add(-24 * time.Hour), To: h0.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := pulse.Point{Platform: "x", AccountID: "a", Handle: "@a", Bucket: h0.Truncate(24 * time.Hour),
		Followers: 110, FollowersMin: 105, FollowersMax: 110, FollowersAvg: 107.5, Following: 10, PostsCount: 3, Hours: 2}
	if len(daily) != 1 || daily[0] != want {
		t.Fatalf("daily = %+v, want %+v", daily, want)
	}
	other, err := db.Series(ctx, pulse.SeriesQuery{UserID: "u1", Grain: pulse.GrainHour, From: h0, To: h0.Add(2 * time.Hour), Platforms: []string{"facebook"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(other) != 0 {
		t.Fatalf("platform filter: got %+v", other)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	db := chtest.MustOpen(t)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
}

// TestHourlyGainsCountFromObservationsMonthsBefore checks that an hour's
// likes gained are counted from the post's last observation before the
// hour even when that observation is months before the queried range (in
// another partition), and that an older post observed in the range does
// not hide a newer one's history.
func TestHourlyGainsCountFromObservationsMonthsBefore(t *testing.T) {
	db := chtest.MustOpen(t)
	ctx := context.Background()
	created := time.Date(2026, 3, 10, 8, 20, 0, 0, time.UTC)
	q := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC) // the queried hour
	post := func(id string, createdAt, hour time.Time, likes int64) topics.Post {
		return topics.Post{LinkID: "link-a", UserID: "u1", Platform: topics.X, AccountID: "a", PostID: id,
			CreatedAt: createdAt, ObservedAt: hour.Add(5 * time.Minute), Likes: likes, Comments: likes / 10,
			Version: hour.Add(5 * time.Minute).UnixMilli()}
	}
	if err := db.Insert(ctx, nil, []topics.Post{
		post("old", created, created.Truncate(time.Hour).Add(time.Hour), 40), // March: the last before q
		post("old", created, q, 100),
		post("new", q.Add(-48*time.Hour), q.Add(-24*time.Hour), 7),
		post("new", q.Add(-48*time.Hour), q, 9),
	}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Series(ctx, pulse.SeriesQuery{UserID: "u1", Grain: pulse.GrainHour, From: q, To: q.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].LikesGained != 60+2 || got[0].CommentsGained != 6+0 {
		t.Fatalf("hour %v: %+v, want likes gained 62 (100-40 and 9-7), comments gained 6", q, got)
	}
}
