package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

// eventually polls cond every 100 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type seriesResult struct {
	Metrics []struct {
		Platform  string
		AccountID string
		Points    []struct {
			At                         time.Time
			Followers, Hours           int64
			Reach, Views, ProfileViews *int64
		}
	}
}

const seriesQuery = `query($grain: Grain!, $from: Time!, $to: Time!) {
  metrics(grain: $grain, from: $from, to: $to) { platform accountId points { at followers hours reach views profileViews } }
}`

// TestOneLoginThreePagesLinkTheSecondAndThird: one Facebook login manages
// three Pages; after consent the user is asked which to link, links the
// second and third, and each link's stored numbers (today's and the
// backfilled days') equal the simulator's for that Page, while the first
// Page's appear nowhere.
func TestOneLoginThreePagesLinkTheSecondAndThird(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	observed := time.Now().UTC()
	p := startPipeline(t, func() time.Time { return observed })
	browser := browserClient(t)
	resp, body := p.signUp(t, browser, "agency@example.com", "correct horse battery")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %d %s", resp.StatusCode, body)
	}
	token, _ := p.mustSignUp(t, "bystander@example.com") // another user, for scoping
	var signup struct{ Token string }
	if err := json.Unmarshal(body, &signup); err != nil {
		t.Fatal(err)
	}

	pages := p.sim.Accounts(topics.Facebook)[:3]
	resp, body = get(t, browser, p.url+"/oauth/facebook/start")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	cb, err := sim.Authorize(t.Context(), http.DefaultClient, resp.Header.Get("Location"),
		sim.Consent{Account: pages[0].ID, Also: []string{pages[1].ID, pages[2].ID}})
	if err != nil {
		t.Fatal(err)
	}
	resp, body = get(t, browser, cb.String())
	loc, _ := url.Parse(resp.Header.Get("Location"))
	frag, _ := url.ParseQuery(loc.Fragment[len("/accounts?"):])
	grant := frag.Get("choose")
	if resp.StatusCode != http.StatusFound || grant == "" || frag.Get("platform") != "facebook" {
		t.Fatalf("callback: %d %q %s, want the choice of Pages", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	var pending struct {
		PendingGrant *struct {
			Platform string
			Accounts []struct {
				AccountID, Handle string
				Linked            bool
			}
		}
		Links []struct{ Accounts []struct{ AccountID string } }
	}
	p.graphql(t, signup.Token, `query($id: ID!) { pendingGrant(id: $id) { platform accounts { accountId handle linked } } links { accounts { accountId } } }`,
		map[string]any{"id": grant}, &pending)
	if pending.PendingGrant == nil || len(pending.PendingGrant.Accounts) != 3 || pending.PendingGrant.Platform != "FACEBOOK" {
		t.Fatalf("pendingGrant = %+v, want the three Pages", pending.PendingGrant)
	}
	for i, a := range pending.PendingGrant.Accounts {
		if a.AccountID != pages[i].ID || a.Handle != pages[i].Handle || a.Linked {
			t.Errorf("choice %d = %+v, want %s (%s), not linked", i, a, pages[i].ID, pages[i].Handle)
		}
	}
	for _, l := range pending.Links {
		if len(l.Accounts) != 0 {
			t.Fatalf("a Page is linked before the user chose: %+v", pending.Links)
		}
	}
	var other struct{ PendingGrant *struct{ Platform string } }
	p.graphql(t, token, `query($id: ID!) { pendingGrant(id: $id) { platform } }`, map[string]any{"id": grant}, &other)
	if other.PendingGrant != nil {
		t.Fatal("another user sees the grant")
	}

	var linked struct {
		LinkAccounts []struct{ AccountID, Status string }
	}
	p.graphql(t, signup.Token, `mutation($g: ID!, $ids: [String!]!) { linkAccounts(grantId: $g, accountIds: $ids) { accountId status } }`,
		map[string]any{"g": grant, "ids": []string{pages[1].ID, pages[2].ID}}, &linked)
	if len(linked.LinkAccounts) != 2 || linked.LinkAccounts[0].AccountID != pages[1].ID || linked.LinkAccounts[1].AccountID != pages[2].ID {
		t.Fatalf("linkAccounts = %+v", linked.LinkAccounts)
	}
	p.graphql(t, signup.Token, `query($id: ID!) { pendingGrant(id: $id) { platform } }`, map[string]any{"id": grant}, &other)
	if other.PendingGrant != nil {
		t.Fatal("the grant can be used twice")
	}

	// Today's hour and the backfilled days of each chosen Page.
	today := observed.Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -28)
	var daily seriesResult
	eventually(t, 3*time.Minute, "both Pages with today and 28 past days", func() bool {
		daily = seriesResult{}
		p.graphql(t, signup.Token, seriesQuery, map[string]any{"grain": "DAY", "from": from, "to": today.Add(24 * time.Hour)}, &daily)
		if len(daily.Metrics) != 2 {
			return false
		}
		for _, m := range daily.Metrics {
			if len(m.Points) < 29 || !allObserved(m.Points) {
				return false
			}
		}
		return true
	})
	for i, m := range daily.Metrics {
		want := pages[1+i]
		if m.AccountID != want.ID {
			t.Fatalf("account %d = %s, want %s", i, m.AccountID, want.ID)
		}
		for _, pt := range m.Points {
			at := pt.At.Add(24 * time.Hour) // a past day ends with its history point
			if pt.At.Equal(today) {
				at = observed
			}
			if f, _ := p.sim.Followers(topics.Facebook, want.ID, at); pt.Followers != f {
				t.Errorf("Page %s on %v: followers %d, want the simulator's %d", want.ID, pt.At.Format(time.DateOnly), pt.Followers, f)
			}
		}
	}

	// The first Page: in no table, under no user, and its numbers under no
	// other Page.
	firstFollowers, _ := p.sim.Followers(topics.Facebook, pages[0].ID, observed)
	for _, m := range daily.Metrics {
		if last := m.Points[len(m.Points)-1]; last.Followers == firstFollowers {
			t.Errorf("Page %s shows the first Page's %d followers", m.AccountID, firstFollowers)
		}
	}
	for _, table := range clickhouse.UserTables {
		if n := countRows(t, p, table, pages[0].ID); n != 0 {
			t.Errorf("%s holds %d rows of the first Page %s", table, n, pages[0].ID)
		}
	}
	if n := countRows(t, p, "account_metrics_hourly", pages[1].ID); n < 29 {
		t.Errorf("%d hourly rows of the second Page, want today's and the backfill's", n)
	}

	// The user stops sharing the third Page with Pulse: its next fetch
	// marks its link needs_reauth, with the reason; the second stays active.
	var links struct {
		Links []struct {
			Platform string
			Accounts []struct{ ID, AccountID, Status, StatusReason string }
		}
	}
	linksQ := `{ links { platform accounts { id accountId status statusReason } } }`
	p.graphql(t, signup.Token, linksQ, nil, &links)
	var thirdLink string
	for _, pl := range links.Links {
		for _, a := range pl.Accounts {
			if a.AccountID == pages[2].ID {
				thirdLink = a.ID
			}
		}
	}
	tok, _, err := p.pg.LinkToken(context.Background(), thirdLink)
	if err != nil {
		t.Fatal(err)
	}
	if !p.sim.Unshare(topics.Facebook, tok.AccessToken, pages[2].ID) {
		t.Fatal("Unshare refused")
	}
	// (The scheduler would wait out Facebook's spacing after the first
	// fetch: ask the fetcher directly.)
	l, err := p.pg.LinkByID(context.Background(), thirdLink)
	if err != nil {
		t.Fatal(err)
	}
	p.requestFetch(t, l, false)
	status := map[string][2]string{}
	eventually(t, 60*time.Second, "the third Page's link needs reauth", func() bool {
		links.Links = nil
		p.graphql(t, signup.Token, linksQ, nil, &links)
		for _, pl := range links.Links {
			for _, a := range pl.Accounts {
				status[a.AccountID] = [2]string{a.Status, a.StatusReason}
			}
		}
		return status[pages[2].ID][0] == "NEEDS_REAUTH"
	})
	if r := status[pages[2].ID][1]; !strings.Contains(r, pages[2].ID) || !strings.Contains(r, "no longer shared") {
		t.Errorf("reason %q, want it to name the Page and say it is no longer shared", r)
	}
	if st := status[pages[1].ID][0]; st != "ACTIVE" {
		t.Errorf("the second Page's link is %s, want ACTIVE", st)
	}
}

// countRows counts table's rows of account id, whoever's.
func countRows(t *testing.T, p *pipeline, table, account string) uint64 {
	t.Helper()
	n, err := p.ch.CountAccountRows(context.Background(), table, account)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBackfillOnLinkAndInsightsAtEveryGrain links an Instagram account and
// a Facebook Page; within the first fetch of each, metrics(grain: DAY)
// returns at least 28 past days of followers equal to the simulator's
// history, and insights equal to the simulator's at every grain. A second
// backfill changes no answer.
func TestBackfillOnLinkAndInsightsAtEveryGrain(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	observed := time.Now().UTC()
	p := newPipeline(t, func() time.Time { return observed }, func() time.Time { return observed })
	p.startScheduler()
	p.startFetcher()
	p.startNormalizer()
	p.startAggregator()
	sink := p.startSink()
	token, userID := p.mustSignUp(t, "insights@example.com")
	accts := map[topics.Platform]sim.Account{topics.Instagram: p.sim.Accounts(topics.Instagram)[2], topics.Facebook: p.sim.Accounts(topics.Facebook)[4]}
	for pl, a := range accts {
		p.mustLink(userID, pl, a)
	}

	today := observed.Truncate(24 * time.Hour)
	from, to := today.AddDate(0, 0, -30), today.Add(24*time.Hour)
	answers := func() map[string]seriesResult {
		out := map[string]seriesResult{}
		for _, g := range []string{"HOUR", "DAY", "MONTH", "YEAR"} {
			var r seriesResult
			p.graphql(t, token, seriesQuery, map[string]any{"grain": g, "from": from, "to": to}, &r)
			out[g] = r
		}
		return out
	}
	var first map[string]seriesResult
	eventually(t, 90*time.Second, "both accounts with 28 past days, and every rollup recomputed", func() bool {
		// Read before the answers: no batch left waiting for its day,
		// month and year rollups, so the answers hold them.
		st := sink.Stats()
		first = answers()
		if st.PendingBatches != 0 || st.Buffered != 0 {
			return false
		}
		day := first["DAY"]
		if len(day.Metrics) != 2 {
			return false
		}
		for _, m := range day.Metrics {
			// Every day has its follower reading (a day's insights may be
			// written before its history snapshot).
			if len(m.Points) < 29 || !allObserved(m.Points) || m.Points[len(m.Points)-1].Reach == nil {
				return false
			}
		}
		return true
	})
	// One fetch each: the first.
	for pl := range accts {
		st := p.sim.Stats().Platforms[pl]
		ep := sim.FacebookEndpointInsights
		if pl == topics.Instagram {
			ep = sim.InstagramEndpointInsights
		}
		if n := st.Endpoints[ep].Requests; n != 1 {
			t.Errorf("%s: %d insights calls, want the first fetch's one", pl, n)
		}
	}

	// Followers: today live, each past day the simulator's at its end.
	for _, m := range first["DAY"].Metrics {
		pl := topics.Platform(lower(m.Platform))
		a := accts[pl]
		past := 0
		for _, pt := range m.Points {
			at := pt.At.Add(24 * time.Hour)
			if pt.At.Equal(today) {
				at = observed
			} else {
				past++
			}
			if f, _ := p.sim.Followers(pl, a.ID, at); pt.Followers != f {
				t.Errorf("%s %v: followers %d, want the simulator's %d", pl, pt.At.Format(time.DateOnly), pt.Followers, f)
			}
		}
		if past < 28 {
			t.Errorf("%s: %d past days, want at least 28", pl, past)
		}
	}

	// Insights at every grain: sums of the simulator's days.
	for g, r := range first {
		for _, m := range r.Metrics {
			pl := topics.Platform(lower(m.Platform))
			want := map[time.Time][3]int64{}
			for d := from; d.Before(to); d = d.Add(24 * time.Hour) {
				ins, _ := p.sim.Insights(pl, accts[pl].ID, d)
				b := bucketOf(g, d)
				w := want[b]
				want[b] = [3]int64{w[0] + ins.Reach, w[1] + ins.Views, w[2] + ins.ProfileViews}
			}
			seen := 0
			for _, pt := range m.Points {
				if pt.Reach == nil {
					continue
				}
				seen++
				w, ok := want[pt.At]
				if !ok || *pt.Reach != w[0] || pt.Views == nil || *pt.Views != w[1] || pt.ProfileViews == nil || *pt.ProfileViews != w[2] {
					t.Errorf("%s %s %v: reach/views/profile views %d/%v/%v, want %v", g, pl, pt.At, *pt.Reach, deref(pt.Views), deref(pt.ProfileViews), w)
				}
			}
			if seen != len(want) {
				t.Errorf("%s %s: %d buckets with insights, want %d", g, pl, seen, len(want))
			}
		}
	}

	// Run the backfill again: every answer stays.
	written := sink.Stats().Snapshots
	links, err := p.pg.Links(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		p.requestFetch(t, l, true)
	}
	eventually(t, 90*time.Second, "the second backfill written and its rollups recomputed", func() bool {
		st := sink.Stats()
		return st.Snapshots >= 2*written && st.PendingBatches == 0 && st.Buffered == 0
	})
	again := answers()
	// The backfilled past is what must not change. The second fetch is
	// also a new live observation (the simulator's counters move) and may
	// read older posts (post-only buckets), so compare the buckets that
	// end before today, without post-only points.
	pastEnd := time.Now().UTC().Truncate(24 * time.Hour)
	pastOf := func(r seriesResult, g string) seriesResult {
		out := seriesResult{}
		for _, m := range r.Metrics {
			n := m
			n.Points = nil
			for _, pt := range m.Points {
				if pt.Hours == 0 && pt.Reach == nil && pt.Views == nil && pt.ProfileViews == nil {
					continue
				}
				if !bucketEnd(g, pt.At).After(pastEnd) {
					n.Points = append(n.Points, pt)
				}
			}
			out.Metrics = append(out.Metrics, n)
		}
		return out
	}
	for g := range first {
		if !reflect.DeepEqual(pastOf(again[g], g), pastOf(first[g], g)) {
			t.Errorf("a second backfill changed the %s answer for past buckets", g)
		}
	}
}

// bucketEnd is when the bucket of grain g starting at at ends.
func bucketEnd(g string, at time.Time) time.Time {
	switch g {
	case "HOUR":
		return at.Add(time.Hour)
	case "DAY":
		return at.AddDate(0, 0, 1)
	case "MONTH":
		return at.AddDate(0, 1, 0)
	default:
		return at.AddDate(1, 0, 0)
	}
}

// requestFetch asks the fetcher for a fetch of link l now, a backfill if
// asked, as an operator would.
func (p *pipeline) requestFetch(t *testing.T, l pulse.Link, backfill bool) {
	t.Helper()
	cl, err := kafka.NewClient(p.brokers)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	b, _ := topics.FetchRequestCodec.Marshal(&topics.FetchRequest{ID: "op-" + l.ID + time.Now().String(), LinkID: l.ID, UserID: l.UserID,
		Platform: l.Platform, Reason: topics.ReasonOnDemand, Backfill: backfill, RequestedAt: time.Now().UTC()})
	if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: topics.FetchRequests, Key: []byte(l.ID), Value: b}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// allObserved reports whether every point has a follower reading.
func allObserved(points []struct {
	At                         time.Time
	Followers, Hours           int64
	Reach, Views, ProfileViews *int64
}) bool {
	for _, p := range points {
		if p.Hours == 0 {
			return false
		}
	}
	return true
}

func bucketOf(grain string, d time.Time) time.Time {
	switch grain {
	case "MONTH":
		return time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
	case "YEAR":
		return time.Date(d.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return d
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
