package scheduler_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/topics"
)

// TestXPostCapSkipsPostsNotFetches: X's monthly post cap is spent as a
// scope, paced over the month: once it has no room, X accounts are still
// fetched, without their posts; the posts a fetch read beyond the planned
// one are charged from it.
func TestXPostCapSkipsPostsNotFetches(t *testing.T) {
	limits := scheduler.DefaultLimits()
	for i, s := range limits[topics.X].Scopes {
		if s.SkipPosts {
			limits[topics.X].Scopes[i].Limit = 3100 // December: 3,038 usable, 4.08 an hour, a burst of 60.76
		}
	}
	p, err := scheduler.NewPlanner(map[topics.Platform]scheduler.Limits{topics.X: limits[topics.X]})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	admit := func(at time.Time, from, n int) (withPosts int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			a := p.AdmitFetch(topics.X, "acct-"+strconv.Itoa(i), at)
			if !a.OK {
				t.Fatalf("account %d not admitted at %v: the cap must not delay fetches", i, at)
			}
			if !a.SkipPosts {
				withPosts++
			}
		}
		return withPosts
	}
	if got := admit(start, 0, 100); got != 60 {
		t.Fatalf("%d of 100 fetches read posts at the month's start, want 60 (the burst)", got)
	}
	if got := admit(start.Add(time.Hour), 100, 100); got != 4 {
		t.Fatalf("%d fetches read posts an hour later, want 4", got)
	}
	// A fetch read 101 posts: 100 more than planned, a debt of a day's cap.
	p.ChargePosts(topics.X, 101, start.Add(time.Hour))
	if got := admit(start.Add(2*time.Hour), 200, 10); got != 0 {
		t.Fatalf("%d fetches read posts while the cap is in debt", got)
	}
	later := admit(start.Add(26*time.Hour), 300, 10)
	if later == 0 {
		t.Fatal("no fetch reads posts once the debt is paid")
	}
	if _, plats := p.Stats(start); plats[topics.X].PostsSkipped != int64(40+96+10+10-later) {
		t.Fatalf("PostsSkipped %d", plats[topics.X].PostsSkipped)
	}
}

// TestSchedulerSkipsPostsPastTheCap: the scheduler's requests carry the
// planner's decision, and the posts an outcome reports are charged.
func TestSchedulerSkipsPostsPastTheCap(t *testing.T) {
	limits := scheduler.DefaultLimits()
	for i, s := range limits[topics.X].Scopes {
		if s.SkipPosts {
			limits[topics.X].Scopes[i].Limit = 3100
		}
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	m := scheduler.NewMemStore()
	for i := range 100 {
		m.AddLink(topics.X, "acct-"+strconv.Itoa(i), "l"+strconv.Itoa(i), "u", now)
	}
	out := &capture{}
	s, err := scheduler.New(scheduler.Config{Emitter: out, Store: m, Clock: func() time.Time { return now },
		Limits: map[topics.Platform]scheduler.Limits{topics.X: limits[topics.X]}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	reqs := out.take()
	skipped := 0
	for _, r := range reqs {
		if r.SkipPosts {
			skipped++
		}
	}
	if len(reqs) != 100 || skipped != 40 {
		t.Fatalf("%d requests, %d skipping posts; want 100 and 40", len(reqs), skipped)
	}
	if err := s.Apply(t.Context(), &topics.FetchOutcome{Platform: topics.X, AccountID: reqs[0].AccountID,
		Outcome: topics.OutcomeOK, PostPages: 1, PostsRead: 101}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	m.AddLink(topics.X, "new", "l-new", "u", now)
	if err := s.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if reqs := out.take(); len(reqs) == 0 || !reqs[len(reqs)-1].SkipPosts {
		t.Fatalf("after a 101-post fetch, requests %+v: want the new account's to skip its posts", reqs)
	}
}
