package conformance

import (
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/sim"
)

// Checks of which account a fetch reads, and of insights and history.

// grantToken issues one token whose grant covers the accounts numbered
// idx, as a login that shares several Pages.
func (e *Env) grantToken(idx ...int) *oauth2.Token {
	e.T.Helper()
	ids := make([]string, len(idx))
	for i, n := range idx {
		ids[i] = e.Account(n).ID
	}
	access, refresh, exp, err := e.Sim.IssueGrant(e.H.Platform, ids...)
	if err != nil {
		e.T.Fatalf("IssueGrant: %v", err)
	}
	e.Remember(access, refresh)
	return &oauth2.Token{AccessToken: access, RefreshToken: refresh, TokenType: "bearer", Expiry: exp}
}

// testExactAccount: Fetch reads exactly the account it is asked for. With
// a grant of three accounts (on a platform whose grants cover several),
// each of the second and third is read with its own numbers; an account
// outside the grant, or one the user stopped sharing, is a Reauth error
// naming it and never a result.
func testExactAccount(t *testing.T, h Harness) {
	e := NewEnv(t, h, nil, nil)
	ctx := t.Context()
	tok := e.grantToken(0, 1, 2)
	now := e.Clock.Now()

	want := []int{0}
	if h.MultiAccount {
		want = []int{1, 2}
	}
	for _, i := range want {
		a := e.Account(i)
		f, err := e.Conn.Fetch(ctx, tok, platforms.Request{AccountID: a.ID})
		if err != nil {
			t.Fatalf("Fetch(%s): %v", a.ID, err)
		}
		got, err := e.Conn.ParseAccount(f.AccountBody)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := e.Sim.Metrics(h.Platform, a.ID, now)
		if wa := h.WantAccount(a, m); f.AccountID != a.ID || got != wa {
			t.Errorf("Fetch(%s): account %s %+v, want %+v", a.ID, f.AccountID, got, wa)
		}
		for _, body := range f.PostBodies {
			posts, _ := e.Conn.ParsePosts(body)
			simPosts, _ := e.Sim.Posts(h.Platform, a.ID, now, 200)
			ids := make([]string, len(simPosts))
			for j, p := range simPosts {
				ids[j] = p.ID
			}
			for _, p := range posts {
				if !slices.Contains(ids, p.ID) {
					t.Errorf("Fetch(%s) returned post %s of another account", a.ID, p.ID)
				}
			}
		}
	}
	if l, ok := e.Conn.(platforms.AccountLister); ok && h.MultiAccount {
		accts, err := l.Accounts(ctx, tok)
		if err != nil {
			t.Fatalf("Accounts: %v", err)
		}
		var ids []string
		for _, a := range accts {
			ids = append(ids, a.ID)
		}
		if wantIDs := []string{e.Account(0).ID, e.Account(1).ID, e.Account(2).ID}; !slices.Equal(ids, wantIDs) {
			t.Errorf("Accounts: %v, want %v", ids, wantIDs)
		}
	}

	// Outside the grant: an error, nothing to store.
	other := e.Account(5).ID
	f, err := e.Conn.Fetch(ctx, tok, platforms.Request{AccountID: other})
	pe := e.ExpectError(err, platforms.Reauth)
	if f != nil && (f.AccountBody != nil || len(f.PostBodies) > 0) {
		t.Errorf("Fetch(%s) outside the grant returned bodies", other)
	}
	if !strings.Contains(pe.Error(), other) {
		t.Errorf("error %q does not name account %s", pe, other)
	}

	if !h.MultiAccount {
		return
	}
	// The user stops sharing the third account: its link must be relinked.
	third := e.Account(2).ID
	if !e.Sim.Unshare(h.Platform, tok.AccessToken, third) {
		t.Fatal("Unshare refused")
	}
	f, err = e.Conn.Fetch(ctx, tok, platforms.Request{AccountID: third})
	pe = e.ExpectError(err, platforms.Reauth)
	if !strings.Contains(pe.Error(), third) || f.AccountBody != nil {
		t.Errorf("unshared account: %v, body %s", pe, f.AccountBody)
	}
	if _, err := e.Conn.Fetch(ctx, tok, platforms.Request{AccountID: e.Account(1).ID}); err != nil {
		t.Errorf("the second account after the third was unshared: %v", err)
	}
}

// testInsights: a backfill reads HistoryDays days of daily followers and
// insights equal to the simulator's; a regular fetch reads yesterday and
// today.
func testInsights(t *testing.T, h Harness) {
	e := NewEnv(t, h, nil, nil)
	ip, ok := e.Conn.(platforms.InsightsParser)
	if !ok {
		t.Skipf("%s serves no insights", h.Platform)
	}
	ctx := t.Context()
	a := e.Account(3)
	now := e.Clock.Now()
	f, err := e.Conn.Fetch(ctx, e.Token(3), platforms.Request{AccountID: a.ID, Backfill: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Skipped) > 0 {
		t.Errorf("Skipped %v with no metric retired", f.Skipped)
	}
	days := parseDays(t, ip, f)
	today := now.Truncate(24 * time.Hour)
	complete := 0
	for _, d := range days {
		if d.Day.After(today) {
			t.Errorf("day %v after today", d.Day)
		}
		if d.Day.Before(today) {
			complete++
		}
		checkDay(t, e, h, a, d, now)
	}
	if complete < 28 {
		t.Errorf("backfill read %d complete days, want at least 28", complete)
	}

	f, err = e.Conn.Fetch(ctx, e.Token(3), platforms.Request{AccountID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	if h.HistoryOnly {
		if len(f.InsightBodies) != 0 {
			t.Errorf("a regular fetch read %d insight bodies, want none", len(f.InsightBodies))
		}
		return
	}
	days = parseDays(t, ip, f)
	if len(days) != 2 || !days[0].Day.Equal(today.Add(-24*time.Hour)) || !days[1].Day.Equal(today) {
		t.Errorf("regular fetch read days %+v, want yesterday and today", days)
	}
	for _, d := range days {
		checkDay(t, e, h, a, d, now)
	}
}

func parseDays(t *testing.T, ip platforms.InsightsParser, f *platforms.Fetch) []platforms.DayMetrics {
	t.Helper()
	if len(f.InsightBodies) == 0 {
		t.Fatal("no insight bodies")
	}
	var out []platforms.DayMetrics
	for _, b := range f.InsightBodies {
		d, err := ip.ParseInsights(b)
		if err != nil {
			t.Fatalf("ParseInsights: %v", err)
		}
		out = append(out, d...)
	}
	return out
}

// checkDay compares one parsed day with the simulator's numbers.
func checkDay(t *testing.T, e *Env, h Harness, a sim.Account, d platforms.DayMetrics, now time.Time) {
	t.Helper()
	end := d.Day.Add(24 * time.Hour)
	if end.After(now) {
		end = now
	}
	fEnd, _ := e.Sim.Followers(h.Platform, a.ID, end)
	fStart, _ := e.Sim.Followers(h.Platform, a.ID, d.Day)
	ins, _ := e.Sim.Insights(h.Platform, a.ID, d.Day)
	eq := func(name string, got *int64, want int64) {
		if got == nil || *got != want {
			t.Errorf("%v %s = %v, want %d", d.Day.Format(time.DateOnly), name, deref(got), want)
		}
	}
	switch {
	case d.Followers != nil:
		eq("followers", d.Followers, fEnd)
	case d.FollowerGain != nil:
		eq("follower gain", d.FollowerGain, fEnd-fStart)
	default:
		t.Errorf("%v: neither followers nor their gain", d.Day)
	}
	if h.HistoryOnly {
		return
	}
	eq("reach", d.Reach, ins.Reach)
	eq("views", d.Views, ins.Views)
	eq("profile views", d.ProfileViews, ins.ProfileViews)
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// testRetiredMetric: a metric the platform retired is skipped and
// counted, the fetch succeeds, and the other metrics are read.
func testRetiredMetric(t *testing.T, h Harness) {
	if h.RetiredMetric == "" {
		t.Skipf("%s names no metric to retire", h.Platform)
	}
	e := NewEnv(t, h, func(c *sim.Config) { h.Retire(c, []string{h.RetiredMetric}) }, nil)
	ip := e.Conn.(platforms.InsightsParser)
	a := e.Account(0)
	f, err := e.Conn.Fetch(t.Context(), e.Token(0), platforms.Request{AccountID: a.ID})
	if err != nil {
		t.Fatalf("Fetch with %s retired: %v", h.RetiredMetric, err)
	}
	if !slices.Equal(f.Skipped, []string{h.RetiredMetric}) {
		t.Errorf("Skipped %v, want [%s]", f.Skipped, h.RetiredMetric)
	}
	days := parseDays(t, ip, f)
	if len(days) == 0 || days[0].Reach == nil && days[0].Views == nil && days[0].ProfileViews == nil {
		t.Errorf("no insight read besides the retired one: %+v", days)
	}
	if st := e.Sim.Stats().Platforms[h.Platform]; st.Errors == 0 {
		t.Error("the simulator answered no error for the retired metric")
	}
}
