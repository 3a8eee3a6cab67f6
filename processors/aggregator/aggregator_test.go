package aggregator_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/processors/aggregator"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) {
	testkit.WrapTestMain(m)
}

func start(t *testing.T) (*tester.Tester, *tester.QueueTracker) {
	t.Helper()
	gt := tester.New(t)
	p, err := goka.NewProcessor(nil, aggregator.Definition(nil), goka.WithTester(gt))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("processor: %v", err)
		}
	})
	return gt, gt.NewQueueTracker(topics.UserAggregates)
}

var t0 = time.Date(2026, 11, 1, 0, 30, 0, 0, time.UTC)

func snapshot(user, link string, at time.Time, followers int64) []byte {
	return snapshotWithPosts(user, link, at, followers, 0, 0)
}

func snapshotWithPosts(user, link string, at time.Time, followers int64, posts int, engagement int64) []byte {
	b, err := topics.AccountSnapshotCodec.Marshal(&topics.AccountSnapshot{
		LinkID: link, UserID: user, Platform: topics.X, AccountID: "acct-" + link, Handle: "@" + link,
		Hour: at.Truncate(time.Hour), ObservedAt: at, Followers: followers, Following: 5, PostsCount: 9,
		RecentPosts: posts, RecentEngagement: engagement, Version: at.UnixMilli(),
	})
	if err != nil {
		panic(err)
	}
	return b
}

// drain returns the aggregates emitted since the last call.
func drain(q *tester.QueueTracker) []*topics.UserAggregate {
	var out []*topics.UserAggregate
	for {
		_, v, ok := q.Next()
		if !ok {
			return out
		}
		out = append(out, v.(*topics.UserAggregate))
	}
}

func TestDuplicatesAndOlderSnapshotsLeaveTableUnchanged(t *testing.T) {
	gt, out := start(t)
	gt.Consume(topics.AccountSnapshots, "link-a", snapshot("u1", "link-a", t0, 100))
	gt.Consume(topics.AccountSnapshots, "link-a", snapshot("u1", "link-a", t0.Add(2*time.Hour), 110))
	if n := len(drain(out)); n != 2 {
		t.Fatalf("emitted %d aggregates, want 2", n)
	}
	before := gt.TableValue(aggregator.Table, "u1").(*aggregator.State)

	gt.Consume(topics.AccountSnapshots, "link-a", snapshot("u1", "link-a", t0.Add(2*time.Hour), 110)) // duplicate
	gt.Consume(topics.AccountSnapshots, "link-a", snapshot("u1", "link-a", t0.Add(time.Hour), 105))   // older, late
	after := gt.TableValue(aggregator.Table, "u1").(*aggregator.State)
	if got := drain(out); len(got) != 0 {
		t.Fatalf("duplicate/older input emitted %d aggregates", len(got))
	}
	bb, _ := aggregator.StateCodec{}.Encode(before)
	ab, _ := aggregator.StateCodec{}.Encode(after)
	if string(bb) != string(ab) || after.Accounts["link-a"].Followers != 110 {
		t.Fatalf("table changed: before %+v after %+v", before.Accounts["link-a"], after.Accounts["link-a"])
	}
}

func TestAggregatesAcrossAccountsWithDeltasAndEngagement(t *testing.T) {
	gt, out := start(t)
	// link-a: 31 days of hourly-ish observations, growing 10 a day.
	for day := 0; day <= 31; day++ {
		at := t0.Add(time.Duration(day) * 24 * time.Hour)
		gt.Consume(topics.AccountSnapshots, "link-a", snapshot("u1", "link-a", at, 1000+int64(10*day)))
	}
	// The same hour observed again later: the later value wins in history,
	// with the engagement of the posts fetched with it.
	last := t0.Add(31 * 24 * time.Hour)
	gt.Consume(topics.AccountSnapshots, "link-a", snapshotWithPosts("u1", "link-a", last.Add(10*time.Minute), 1400, 2, 40))
	// link-b: two observations, 3 hours apart.
	gt.Consume(topics.AccountSnapshots, "link-b", snapshot("u1", "link-b", last, 50))
	gt.Consume(topics.AccountSnapshots, "link-b", snapshot("u1", "link-b", last.Add(3*time.Hour), 47))
	// Another user's account never mixes in.
	gt.Consume(topics.AccountSnapshots, "link-z", snapshot("u2", "link-z", last, 7))

	var lastU1 *topics.UserAggregate
	for _, agg := range drain(out) {
		if agg.UserID == "u1" {
			lastU1 = agg
		}
	}
	if lastU1 == nil || len(lastU1.Accounts) != 2 {
		t.Fatalf("u1 aggregate = %+v", lastU1)
	}
	a, b := lastU1.Accounts[0], lastU1.Accounts[1]
	if a.LinkID != "link-a" {
		a, b = b, a
	}
	// link-a: latest 1400; 24h ago 1300 (day 30), 7d ago 1240 (day 24), 30d ago 1010 (day 1).
	if a.Followers != 1400 || a.Delta24h != 100 || a.Delta7d != 160 || a.Delta30d != 390 {
		t.Errorf("link-a = %+v", a)
	}
	// Engagement: 40 over 2 posts, per follower.
	if a.Posts30d != 2 || math.Abs(a.EngagementRate-20.0/1400) > 1e-12 {
		t.Errorf("link-a engagement = %d posts, %v", a.Posts30d, a.EngagementRate)
	}
	// link-b: shorter history than every window: deltas against the oldest.
	if b.Followers != 47 || b.Delta24h != -3 || b.Delta30d != -3 || b.EngagementRate != 0 {
		t.Errorf("link-b = %+v", b)
	}
	if u2 := gt.TableValue(aggregator.Table, "u2").(*aggregator.State); len(u2.Accounts) != 1 {
		t.Errorf("u2 = %+v", u2)
	}
}

func TestBadRecordsAreDeadLettered(t *testing.T) {
	gt, out := start(t)
	dead := gt.NewQueueTracker(topics.DeadLetters)
	gt.Consume(topics.AccountSnapshots, "link-a", []byte("not json"))
	gt.Consume(topics.AccountSnapshots, "link-a", []byte(`{"v":1,"user_id":"u1"}`))
	for i := range 2 {
		if _, v, ok := dead.Next(); !ok || v.(*topics.DeadLetter).Key != "link-a" {
			t.Fatalf("dead letter %d: %v %v", i, v, ok)
		}
	}
	if got := drain(out); len(got) != 0 {
		t.Fatalf("emitted %d aggregates for bad input", len(got))
	}
}

// TestLaterEstimatesOfPastDaysLeaveTheLatestAlone: a fetch re-estimates
// past days' ends (history snapshots versioned when estimated, after the
// account's latest observation); they describe the past, so the account's
// latest followers stay.
func TestLaterEstimatesOfPastDaysLeaveTheLatestAlone(t *testing.T) {
	gt, out := start(t)
	gt.Consume(topics.AccountSnapshots, "link-a", snapshot("u1", "link-a", t0.Add(2*time.Hour), 110))
	drain(out)
	before := gt.TableValue(aggregator.Table, "u1").(*aggregator.State)
	dayEnd := t0.Truncate(24 * time.Hour).Add(-time.Second)
	b, err := topics.AccountSnapshotCodec.Marshal(&topics.AccountSnapshot{
		LinkID: "link-a", UserID: "u1", Platform: topics.X, AccountID: "acct-link-a", Hour: dayEnd.Truncate(time.Hour),
		ObservedAt: dayEnd, Followers: 90, History: true, Version: t0.Add(3*time.Hour).UnixMilli() - 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	gt.Consume(topics.AccountSnapshots, "link-a", b)
	after := gt.TableValue(aggregator.Table, "u1").(*aggregator.State)
	bb, _ := aggregator.StateCodec{}.Encode(before)
	ab, _ := aggregator.StateCodec{}.Encode(after)
	if string(bb) != string(ab) || after.Accounts["link-a"].Followers != 110 {
		t.Fatalf("a re-estimated past day changed the state: before %+v after %+v", before.Accounts["link-a"], after.Accounts["link-a"])
	}
	if got := drain(out); len(got) != 0 {
		t.Errorf("it emitted %d aggregates", len(got))
	}
}
