package normalizer_test

import (
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	_ "github.com/pulsehq/pulse/platforms/facebook"
	_ "github.com/pulsehq/pulse/platforms/instagram"
	_ "github.com/pulsehq/pulse/platforms/linkedin"
	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

// TestBackfillBecomesHistory fetches a backfill from the simulator with
// the real connectors and checks the snapshots Normalize makes of it: one
// per complete past day, observed at the day's end, with the simulator's
// followers then (Facebook reports totals, Instagram and LinkedIn daily
// changes counted back from the live count), and the insights of every day read. A second
// backfill yields the same history.
func TestBackfillBecomesHistory(t *testing.T) {
	// The connectors read the last 30 days by the wall clock.
	now := time.Now().UTC().Truncate(time.Second)
	srv, err := sim.New(sim.Config{Seed: 7, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	for _, p := range []topics.Platform{topics.Facebook, topics.Instagram, topics.LinkedIn} {
		t.Run(string(p), func(t *testing.T) {
			conn, err := platforms.New(p, platforms.Config{BaseURL: sim.BaseURL(ts.URL, p), HTTPClient: ts.Client()})
			if err != nil {
				t.Fatal(err)
			}
			a := srv.Accounts(p)[1]
			access, _, _, err := srv.IssueGrant(p, srv.Accounts(p)[0].ID, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			parsers := map[topics.Platform]normalizer.Parser{p: conn}
			normalize := func() (*topics.AccountSnapshot, []topics.AccountSnapshot) {
				f, err := conn.Fetch(t.Context(), &oauth2.Token{AccessToken: access}, platforms.Request{AccountID: a.ID, Backfill: true})
				if err != nil {
					t.Fatal(err)
				}
				b, _ := topics.RawPayloadCodec.Marshal(&topics.RawPayload{RequestID: "r", LinkID: "l", UserID: "u", Platform: p,
					AccountID: a.ID, FetchedAt: now, Account: f.AccountBody, PostPages: f.PostBodies, Insights: f.InsightBodies})
				snap, hist, _, err := normalizer.Normalize(parsers, b)
				if err != nil {
					t.Fatal(err)
				}
				return snap, hist
			}
			snap, hist := normalize()
			if len(hist) < 28 {
				t.Fatalf("%d history snapshots, want at least 28", len(hist))
			}
			today := now.Truncate(24 * time.Hour)
			for i, h := range hist {
				end := h.ObservedAt.Add(time.Second)
				if !end.Equal(end.Truncate(24*time.Hour)) || !end.Before(now) || !h.History || h.AccountID != a.ID {
					t.Fatalf("history %d: %+v", i, h)
				}
				if i > 0 && !h.ObservedAt.Equal(hist[i-1].ObservedAt.Add(24*time.Hour)) {
					t.Errorf("history %d at %v after %v: a gap", i, h.ObservedAt, hist[i-1].ObservedAt)
				}
				if want, _ := srv.Followers(p, a.ID, end); h.Followers != want {
					t.Errorf("%v: followers %d, want the simulator's %d", end, h.Followers, want)
				}
			}
			if last := hist[len(hist)-1].ObservedAt; !last.Equal(today.Add(-time.Second)) {
				t.Errorf("last history point %v, want yesterday's end", last)
			}
			if p == topics.LinkedIn {
				if len(snap.Insights) != 0 {
					t.Errorf("LinkedIn insights %+v, want none (history only)", snap.Insights)
				}
			} else if len(snap.Insights) < 29 {
				t.Errorf("%d days of insights, want the backfill's", len(snap.Insights))
			}
			for _, d := range snap.Insights {
				want, _ := srv.Insights(p, a.ID, d.Day)
				if *d.Reach != want.Reach || *d.Views != want.Views || *d.ProfileViews != want.ProfileViews {
					t.Errorf("%v insights %d/%d/%d, want %+v", d.Day, *d.Reach, *d.Views, *d.ProfileViews, want)
				}
			}
			_, again := normalize()
			if len(again) != len(hist) {
				t.Fatalf("second backfill: %d points, first %d", len(again), len(hist))
			}
			for i := range hist {
				if !reflect.DeepEqual(again[i], hist[i]) {
					t.Errorf("second backfill point %d %+v, first %+v", i, again[i], hist[i])
				}
			}
		})
	}
}

// TestReestimatedDaysSupersedeEarlierEstimates: every fetch re-estimates
// the last days' ends (Instagram counts them back from a live count and a
// daily change read a moment apart, so two fetches can differ by a
// follower). Two estimates of one hour must never share a version (ClickHouse
// would keep either), and the later fetch's must win; a redelivery of one
// payload repeats its versions.
func TestReestimatedDaysSupersedeEarlierEstimates(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	clock := now
	srv, err := sim.New(sim.Config{Seed: 7, Clock: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	p := topics.Instagram
	conn, err := platforms.New(p, platforms.Config{BaseURL: sim.BaseURL(ts.URL, p), HTTPClient: ts.Client()})
	if err != nil {
		t.Fatal(err)
	}
	a := srv.Accounts(p)[1]
	access, _, _, err := srv.IssueGrant(p, srv.Accounts(p)[0].ID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	parsers := map[topics.Platform]normalizer.Parser{p: conn}
	fetch := func(at time.Time) []byte {
		clock = at
		f, err := conn.Fetch(t.Context(), &oauth2.Token{AccessToken: access}, platforms.Request{AccountID: a.ID})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := topics.RawPayloadCodec.Marshal(&topics.RawPayload{RequestID: "r", LinkID: "l", UserID: "u", Platform: p,
			AccountID: a.ID, FetchedAt: at, Account: f.AccountBody, PostPages: f.PostBodies, Insights: f.InsightBodies})
		return b
	}
	normalize := func(b []byte) (*topics.AccountSnapshot, []topics.AccountSnapshot) {
		snap, hist, _, err := normalizer.Normalize(parsers, b)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) == 0 {
			t.Fatal("no history: the fetch did not estimate yesterday's end")
		}
		return snap, hist
	}
	first := fetch(now)
	snap1, hist1 := normalize(first)
	snap2, hist2 := normalize(fetch(now.Add(time.Minute)))
	yesterday := now.Truncate(24 * time.Hour).Add(-time.Second)
	end1, end2 := hist1[len(hist1)-1], hist2[len(hist2)-1]
	if !end1.ObservedAt.Equal(yesterday) || !end2.ObservedAt.Equal(yesterday) {
		t.Fatalf("last history points at %v and %v, want yesterday's end %v", end1.ObservedAt, end2.ObservedAt, yesterday)
	}
	if end2.Version <= end1.Version {
		t.Errorf("the later estimate of %v has version %d, the earlier %d: it must supersede it", yesterday, end2.Version, end1.Version)
	}
	for _, c := range []struct {
		snap *topics.AccountSnapshot
		hist []topics.AccountSnapshot
	}{{snap1, hist1}, {snap2, hist2}} {
		for i, h := range c.hist {
			if h.Version >= c.snap.Version || (i > 0 && h.Version <= c.hist[i-1].Version) {
				t.Errorf("history point %d version %d: want below the fetch's %d and above the point before", i, h.Version, c.snap.Version)
			}
		}
	}
	if _, again := normalize(first); !reflect.DeepEqual(again, hist1) {
		t.Errorf("a redelivered payload gave %+v, first %+v", again, hist1)
	}
}
