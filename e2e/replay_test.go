package e2e_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/topics"
)

// stepClock advances by step on every reading, so each fetch observes a
// later time and the pipeline fills many hours quickly.
type stepClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

// answers is every query the API can ask ClickHouse for one user.
type answers struct {
	Series map[pulse.Grain][]pulse.Point
	Feed   []pulse.PostRow
}

func (p *pipeline) answers(userID string, from, to time.Time) answers {
	p.t.Helper()
	ctx := context.Background()
	a := answers{Series: map[pulse.Grain][]pulse.Point{}}
	for _, g := range []pulse.Grain{pulse.GrainHour, pulse.GrainDay, pulse.GrainMonth, pulse.GrainYear} {
		pts, err := p.ch.Series(ctx, pulse.SeriesQuery{UserID: userID, Grain: g, From: from, To: to})
		if err != nil {
			p.t.Fatal(err)
		}
		a.Series[g] = pts
	}
	feed, err := p.ch.Feed(ctx, pulse.FeedQuery{UserID: userID, Limit: 200})
	if err != nil {
		p.t.Fatal(err)
	}
	a.Feed = feed
	return a
}

// waitCaughtUp waits until every group has consumed everything. (Linking
// backfills 30 days per Meta and LinkedIn account, so a replay from the
// start reprocesses those too: three minutes leaves room on a loaded
// machine.)
func (p *pipeline) waitCaughtUp(adm *kafka.Admin, groups ...string) {
	p.t.Helper()
	testkit.Eventually(p.t, 3*time.Minute, func() error {
		for _, g := range groups {
			lag, members, err := adm.Lag(context.Background(), g)
			if err != nil || lag != 0 || members == 0 {
				return fmt.Errorf("group %s: lag %d, %d members, err %v", g, lag, members, err)
			}
		}
		return nil
	})
}

func totalEnd(t *testing.T, adm *kafka.Admin, topic string) int64 {
	t.Helper()
	ends, err := adm.EndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ends {
		n += e
	}
	return n
}

// TestReplayFromStartChangesNoAnswer fills ClickHouse through the whole
// pipeline, replays the normalizer, aggregator and sink from the start of
// their topics, and checks every query answer is identical, the sink really
// wrote everything again, and the aggregator published nothing new.
func TestReplayFromStartChangesNoAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	start := time.Now().UTC().Add(-72 * time.Hour).Truncate(time.Hour)
	clock := &stepClock{t: start, step: 20 * time.Minute}
	p := newPipeline(t, clock.Now, time.Now, withScheduler(100*time.Millisecond, appOnly(360000)))
	_, userID := p.mustSignUp(t, "replay@example.com")
	links := 0
	for _, pl := range p.sim.Platforms() {
		for _, acct := range p.sim.Accounts(pl)[:2] {
			p.mustLink(userID, pl, acct)
			links++
		}
	}

	p.startScheduler()
	p.startFetcher()
	p.startNormalizer()
	p.startAggregator()
	p.startSink()

	from, to := start.Add(-24*time.Hour), start.Add(30*24*time.Hour)
	testkit.Eventually(t, 90*time.Second, func() error {
		if hourly := p.answers(userID, from, to).Series[pulse.GrainHour]; len(hourly) < 8*links {
			return fmt.Errorf("only %d hourly points", len(hourly))
		}
		return nil
	})
	p.stop("scheduler")
	p.stop("fetcher")
	adm, err := kafka.NewAdmin(p.brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	groups := []string{topics.GroupNormalizer, topics.GroupAggregator, topics.GroupSink}
	p.waitCaughtUp(adm, groups...)
	for _, g := range []string{"normalizer", "aggregator", "sink"} {
		p.stop(g)
	}
	before := p.answers(userID, from, to)
	aggregatesBefore := totalEnd(t, adm, topics.UserAggregates)
	snapshotsBefore := totalEnd(t, adm, topics.AccountSnapshots)
	if len(before.Feed) == 0 || len(before.Series[pulse.GrainDay]) == 0 {
		t.Fatalf("nothing to compare: %+v", before)
	}

	for _, g := range groups {
		ts, err := adm.GroupTopics(context.Background(), g)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := adm.ResetGroup(context.Background(), g, ts, kafka.ResetTarget{Earliest: true}); err != nil {
			t.Fatalf("reset %s: %v", g, err)
		}
	}
	p.startNormalizer()
	p.startAggregator()
	sink := p.startSink()
	p.waitCaughtUp(adm, groups...)
	p.stop("sink")
	p.stop("normalizer")
	p.stop("aggregator")

	if got := sink.Stats().Snapshots; got < snapshotsBefore {
		t.Fatalf("replayed sink wrote %d snapshots, want at least the %d on the topic before the replay", got, snapshotsBefore)
	}
	if got := totalEnd(t, adm, topics.UserAggregates); got != aggregatesBefore {
		t.Errorf("aggregator published %d aggregates during the replay, want none", got-aggregatesBefore)
	}
	after := p.answers(userID, from, to)
	if !reflect.DeepEqual(before, after) {
		for g := range before.Series {
			if !reflect.DeepEqual(before.Series[g], after.Series[g]) {
				t.Errorf("%s series changed by the replay:\nbefore %+v\nafter  %+v", g, before.Series[g], after.Series[g])
			}
		}
		if !reflect.DeepEqual(before.Feed, after.Feed) {
			t.Errorf("feed changed by the replay")
		}
	}
}
