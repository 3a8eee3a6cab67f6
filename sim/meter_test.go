package sim

import (
	"testing"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// TestMetererCountsEveryLimit meters virtual fetches against each
// platform's limits: per-account limits refuse only their account,
// app-wide limits every account, LinkedIn's windows reset at midnight UTC,
// and every call and refusal is in Stats.
func TestMetererCountsEveryLimit(t *testing.T) {
	clock := newClock()
	srv, err := New(Config{Clock: clock.Now,
		X:        XConfig{UsersMe: Limit{Requests: 3, Window: 15 * time.Minute}},
		Facebook: FacebookConfig{App: Limit{Requests: 4, Window: time.Hour}},
		LinkedIn: LinkedInConfig{Member: Limit{Requests: 1, Window: 24 * time.Hour}},
	})
	if err != nil {
		t.Fatal(err)
	}
	x, err := srv.NewMeterer(topics.X, "pulse", []string{XEndpointUsersMe, XEndpointUserTweets})
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(m *Meterer, account, wantCalls int, wantRefused string, wantPerAccount bool) {
		t.Helper()
		calls, refused, per := m.Fetch(account)
		if calls != wantCalls || refused != wantRefused || per != wantPerAccount {
			t.Errorf("Fetch(%d) = %d calls, refused %q (per account %v), want %d, %q (%v)",
				account, calls, refused, per, wantCalls, wantRefused, wantPerAccount)
		}
	}
	for range 3 {
		fetch(x, 0, 2, "", false)
	}
	fetch(x, 0, 1, XEndpointUsersMe, true) // the account's users/me window is spent
	fetch(x, 100_000, 2, "", false)        // another account is not refused
	clock.Advance(15 * time.Minute)
	fetch(x, 0, 2, "", false) // a new window

	st := srv.Stats().Platforms[topics.X]
	if me := st.Endpoints[XEndpointUsersMe]; me.Requests != 6 || me.LimitBreaches != 1 {
		t.Errorf("users/me counts %+v, want 6 requests, 1 breach", me)
	}
	if tw := st.Endpoints[XEndpointUserTweets]; tw.Requests != 5 || tw.LimitBreaches != 0 {
		t.Errorf("tweets counts %+v, want 5 requests", tw)
	}
	if st.Requests != 11 || st.LimitBreaches != 1 || st.Apps["pulse"].Requests != 11 {
		t.Errorf("X counts %+v", st)
	}

	// Facebook's app limit covers every Page: the second fetch's Page call
	// is the fifth app call.
	fb, err := srv.NewMeterer(topics.Facebook, "pulse", []string{MetaEndpointAccounts, FacebookEndpointPage, FacebookEndpointPosts})
	if err != nil {
		t.Fatal(err)
	}
	fetch(fb, 0, 3, "", false)
	fetch(fb, 1, 2, metaMeterApp, false)

	// LinkedIn's member windows are UTC days.
	li, err := srv.NewMeterer(topics.LinkedIn, "pulse", []string{LinkedInEndpointACLs})
	if err != nil {
		t.Fatal(err)
	}
	clock.mu.Lock()
	clock.t = time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC)
	clock.mu.Unlock()
	fetch(li, 7, 1, "", false)
	fetch(li, 7, 1, linkedinMeterMember, true)
	clock.Advance(time.Minute) // midnight
	fetch(li, 7, 1, "", false)

	srv.ResetStats()
	if st := srv.Stats().Platforms[topics.X]; st.Requests != 0 || len(st.Endpoints) != 0 {
		t.Errorf("after ResetStats: %+v", st)
	}
	if _, err := srv.NewMeterer(topics.X, "pulse", nil); err == nil {
		t.Error("a Meterer without endpoints was made")
	}
}
