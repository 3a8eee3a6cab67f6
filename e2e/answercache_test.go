package e2e_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/topics"
)

// answerCache reads the API's counts of analytics queries answered from
// its cache and of the changes it was told of.
func answerCache(t *testing.T) (hits, changes float64) {
	t.Helper()
	fams, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		switch f.GetName() {
		case "pulse_api_answer_cache_changes_total":
			changes = f.GetMetric()[0].GetCounter().GetValue()
		case "pulse_api_answer_cache_requests_total":
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" && l.GetValue() == "hit" {
						hits = m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	return hits, changes
}

// TestAnswerCacheServesAndFollowsNewData: every component runs; the API
// answers a repeated analytics query from its cache, and once the clock
// moves an hour and the account is fetched again, the next answers hold
// the new observation, at the hour grain (told by the sink's insert) and
// at the day grain (told by its rollup recomputation), equal to what
// ClickHouse answers.
func TestAnswerCacheServesAndFollowsNewData(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	// After the link's creation (it is due from it, in real time).
	t0 := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	clock := &virtualClock{t: t0}
	p := newPipeline(t, clock.Now, clock.Now, withPostsReads(clock.Now, false), withScheduler(time.Hour, appOnly(1e6)))
	p.startScheduler()
	p.startFetcher()
	p.startNormalizer()
	p.startAggregator()
	p.startSink()
	token, userID := p.mustSignUp(t, "cache@example.com")
	acct := p.sim.Accounts(topics.X)[0]
	p.mustLink(userID, topics.X, acct)

	type series struct {
		Metrics []struct {
			Points []struct {
				At        time.Time
				Followers int64
				Hours     int64
			}
		}
	}
	const query = `query($grain: Grain!, $from: Time!, $to: Time!) { metrics(grain: $grain, from: $from, to: $to) { points { at followers hours } } }`
	from, to := t0.Add(-48*time.Hour), t0.Add(24*time.Hour)
	day := func(at time.Time) time.Time { return at.Truncate(24 * time.Hour) }
	dayFrom, dayTo := day(from), day(to).Add(24*time.Hour)
	// answer queries the grain and checks that it ends with a point at
	// bucket of followers, equal to ClickHouse's own answer.
	answer := func(grain pulse.Grain, bucket time.Time, followers int64) (series, error) {
		f, tt := from, to
		if grain == pulse.GrainDay {
			f, tt = dayFrom, dayTo
		}
		var got series
		p.graphql(t, token, query, map[string]any{"grain": map[pulse.Grain]string{pulse.GrainHour: "HOUR", pulse.GrainDay: "DAY"}[grain], "from": f, "to": tt}, &got)
		if len(got.Metrics) != 1 || len(got.Metrics[0].Points) == 0 {
			return got, fmt.Errorf("%s: %+v, want one account's points", grain, got)
		}
		pts := got.Metrics[0].Points
		if last := pts[len(pts)-1]; !last.At.Equal(bucket) || last.Followers != followers || last.Hours == 0 {
			return got, fmt.Errorf("%s: last point %+v, want %d followers at %v", grain, last, followers, bucket)
		}
		want, err := p.ch.Series(context.Background(), pulse.SeriesQuery{UserID: userID, Grain: grain, From: f, To: tt})
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != len(pts) {
			return got, fmt.Errorf("%s: %d points, ClickHouse has %d", grain, len(pts), len(want))
		}
		for i, w := range want {
			if !pts[i].At.Equal(w.Bucket) || pts[i].Followers != w.Followers || pts[i].Hours != int64(w.Hours) {
				return got, fmt.Errorf("%s: point %d is %+v, ClickHouse has %+v", grain, i, pts[i], w)
			}
		}
		return got, nil
	}
	followersAt := func(at time.Time) int64 {
		n, err := p.sim.Followers(topics.X, acct.ID, at)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	first := followersAt(t0)
	testkit.Eventually(t, 90*time.Second, func() error {
		_, err := answer(pulse.GrainHour, t0, first)
		return err
	})
	testkit.Eventually(t, 60*time.Second, func() error {
		_, err := answer(pulse.GrainDay, day(t0), first)
		return err
	})
	// Asked again, the same answer comes from the cache, once the sink
	// has told of its last change (the fetch's later pages, the rollups):
	// a window with no change told of, in which the repeated queries are
	// all hits with the answer the first one cached.
	testkit.Eventually(t, 60*time.Second, func() error {
		_, changes := answerCache(t)
		prime, err := answer(pulse.GrainHour, t0, first) // cached, if it was not
		if err != nil {
			t.Fatal(err)
		}
		hits, _ := answerCache(t)
		var again []series
		for range 3 {
			got, err := answer(pulse.GrainHour, t0, first)
			if err != nil {
				t.Fatal(err)
			}
			again = append(again, got)
		}
		hits2, changes2 := answerCache(t)
		if changes2 != changes {
			return fmt.Errorf("%v changes told of meanwhile", changes2-changes)
		}
		for _, got := range again {
			if !reflect.DeepEqual(got, prime) {
				t.Fatalf("no change told of, yet asked again: %+v, then %+v", prime, got)
			}
		}
		if hits2-hits != 3 {
			t.Fatalf("%v of 3 repeated queries answered from the cache, with no change told of", hits2-hits)
		}
		return nil
	})

	// The next hour's fetch: the cached answers give way to the new one.
	t1 := t0.Add(time.Hour)
	clock.Set(t1)
	second := followersAt(t1)
	if second == first {
		t.Logf("followers unchanged from %v to %v (%d): the new hour's point still tells the answers apart", t0, t1, first)
	}
	testkit.Eventually(t, 90*time.Second, func() error {
		_, err := answer(pulse.GrainHour, t1, second)
		return err
	})
	testkit.Eventually(t, 60*time.Second, func() error {
		_, err := answer(pulse.GrainDay, day(t1), second)
		return err
	})
}
