package scheduler_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/topics"
)

func TestPostsWindow(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		st         pulse.PostsState
		cursor     string
		days       int
		wantCursor bool
	}{
		{"never read: full", pulse.PostsState{}, "", 0, false},
		{"read this hour", pulse.PostsState{Cursor: "9", WeekAt: now.Add(-time.Hour), MonthAt: now.Add(-time.Hour)}, "9", 0, true},
		{"week re-read a day ago", pulse.PostsState{Cursor: "9", WeekAt: now.Add(-24 * time.Hour), MonthAt: now.Add(-25 * time.Hour)}, "9", 7, true},
		{"month re-read a week ago", pulse.PostsState{Cursor: "9", WeekAt: now.Add(-time.Hour), MonthAt: now.Add(-7 * 24 * time.Hour)}, "9", topics.RecentDays, true},
		{"never re-read, with a cursor", pulse.PostsState{Cursor: "9"}, "9", topics.RecentDays, true},
	} {
		c, d := scheduler.PostsWindow(tc.st, now)
		if c != tc.cursor || d != tc.days {
			t.Errorf("%s: cursor %q, days %d; want %q, %d", tc.name, c, d, tc.cursor, tc.days)
		}
	}
}

// The scheduler carries each account's cursor (as the fetcher records it
// in PostgreSQL) into its requests, and re-reads older posts on the
// decaying schedule: 7 days once a day, 30 days once a week, new posts
// only otherwise.
func TestRequestsCarryTheCursorAndDecayingRefresh(t *testing.T) {
	e := newEnv(t, xOnly())
	l := e.link(t, "ann", topics.X, "42")
	start := e.clock.Now()
	var (
		fetches, full, week, month int
		lastWeek, lastMonth        time.Time
		cursor                     string
	)
	for e.clock.Now().Before(start.Add(9 * 24 * time.Hour)) {
		reqs := e.tick(t)
		r := reqs["42"]
		if r == nil {
			t.Fatalf("%v: account not fetched", e.clock.Now().Sub(start))
		}
		now := e.clock.Now()
		if r.PostsSince != cursor {
			t.Fatalf("fetch %d: cursor %q, want the last recorded %q", fetches, r.PostsSince, cursor)
		}
		days := r.RefreshDays
		switch {
		case r.PostsSince == "":
			full++
			days = topics.RecentDays
		case r.RefreshDays == topics.RecentDays:
			month++
			if d := now.Sub(lastMonth); d < 7*24*time.Hour || d > 7*24*time.Hour+anHourOn {
				t.Errorf("30-day re-read %v after the last", d)
			}
		case r.RefreshDays == 7:
			week++
			if d := now.Sub(lastWeek); d < 24*time.Hour || d > 24*time.Hour+anHourOn {
				t.Errorf("7-day re-read %v after the last", d)
			}
		case r.RefreshDays != 0:
			t.Fatalf("fetch %d: RefreshDays %d", fetches, r.RefreshDays)
		}
		if days >= 7 {
			lastWeek = now
		}
		if days >= topics.RecentDays {
			lastMonth = now
		}
		// The fetcher's record: a new cursor each fetch.
		cursor = fmt.Sprint(1000 + fetches)
		if err := e.db.MarkPostsRead(t.Context(), l.ID, pulse.PostsRead{Cursor: cursor, Days: days, At: now}); err != nil {
			t.Fatal(err)
		}
		fetches++
		e.clock.Advance(anHourOn)
	}
	// 9 days of hourly fetches: one full read, one 30-day re-read (day 7),
	// a 7-day one on each other day, the rest new posts only.
	if full != 1 || month != 1 || week < 6 || week > 8 || fetches-full-month-week < 180 {
		t.Fatalf("%d fetches: %d full, %d 30-day, %d 7-day re-reads", fetches, full, month, week)
	}
}

// FullPosts: every request a full read, as before cursors.
func TestFullPostsSendsNoCursor(t *testing.T) {
	e := newEnv(t, xOnly())
	s, err := scheduler.New(scheduler.Config{Emitter: e.out, Store: e.db, Clock: e.clock.Now, Limits: xOnly(), FullPosts: true})
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	l := e.link(t, "ann", topics.X, "42")
	if err := e.db.MarkPostsRead(t.Context(), l.ID, pulse.PostsRead{Cursor: "77", Days: topics.RecentDays, At: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	if r := e.tick(t)["42"]; r == nil || r.PostsSince != "" || r.RefreshDays != 0 {
		t.Fatalf("request %+v", r)
	}
}

// Where the posts read are metered (X's monthly cap), a re-read waits for
// room in the posts scope for its days of posts: new posts come first.
func TestRereadWaitsForRoomInThePostsScope(t *testing.T) {
	e := newEnv(t, xOnly())
	l := e.link(t, "ann", topics.X, "42")
	now := e.clock.Now()
	// Fully read 25 hours ago: the 7-day re-read is due.
	if err := e.db.MarkPostsRead(t.Context(), l.ID, pulse.PostsRead{Cursor: "9", Days: topics.RecentDays, At: now.Add(-25 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Spend the posts scope down to room for a few posts only.
	pl := e.s.Planner()
	room := pl.PostsRoom(topics.X, now)
	if room < 100 {
		t.Fatalf("posts room %v at the start", room)
	}
	pl.ChargePosts(topics.X, int(room)-10+scheduler.XPostsPerFetch, now)
	if got := pl.PostsRoom(topics.X, now); got < 9 || got > 11 {
		t.Fatalf("posts room %v after the charge", got)
	}
	r := e.tick(t)["42"]
	if r == nil || r.PostsSince != "9" || r.RefreshDays != 0 || r.SkipPosts {
		t.Fatalf("with room for 10 posts: %+v; want new posts only", r)
	}
	// With room, the same account re-reads its week.
	e2 := newEnv(t, xOnly())
	l2 := e2.link(t, "ann", topics.X, "42")
	if err := e2.db.MarkPostsRead(t.Context(), l2.ID, pulse.PostsRead{Cursor: "9", Days: topics.RecentDays, At: e2.clock.Now().Add(-25 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if r := e2.tick(t)["42"]; r == nil || r.RefreshDays != 7 {
		t.Fatalf("with room: %+v; want a 7-day re-read", r)
	}
}
