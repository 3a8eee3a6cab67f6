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
