package scheduler_test

import (
	"slices"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/topics"
)

// storeFixture is a Store with the ways a test sets it up.
type storeFixture struct {
	store scheduler.Store
	// add links user to account, due at due, and returns the link id.
	add func(t *testing.T, account, user string, due time.Time) string
	// refresh is a refresh press on the link, at the real time.
	refresh func(t *testing.T, account, user, linkID string)
	// deactivate marks the link needs_reauth.
	deactivate func(t *testing.T, account, linkID string)
}

func memFixture() storeFixture {
	m := scheduler.NewMemStore()
	n := 0
	return storeFixture{
		store: m,
		add: func(t *testing.T, account, user string, due time.Time) string {
			n++
			id := "link-" + string(rune('a'+n))
			m.AddLink(topics.X, account, id, user, due)
			return id
		},
		refresh: func(t *testing.T, account, user, linkID string) {
			if err := m.RequestRefresh(topics.X, account, time.Now()); err != nil {
				t.Fatal(err)
			}
		},
		deactivate: func(t *testing.T, account, linkID string) {
			if err := m.SetLinkActive(topics.X, account, linkID, false); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func pgFixture(t *testing.T) storeFixture {
	db := pgtest.MustOpen(t)
	users := map[string]string{}
	return storeFixture{
		store: db,
		add: func(t *testing.T, account, user string, due time.Time) string {
			uid, ok := users[user]
			if !ok {
				u, err := db.CreateUser(t.Context(), user+"@example.com", "a long enough password")
				if err != nil {
					t.Fatal(err)
				}
				uid, users[user] = u.ID, u.ID
			}
			l, err := db.UpsertLink(t.Context(), uid, topics.X, account, "h", &oauth2.Token{AccessToken: "t"}, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Reschedule(t.Context(), topics.X, []scheduler.Next{{AccountID: account, At: due}}); err != nil {
				t.Fatal(err)
			}
			return l.ID
		},
		refresh: func(t *testing.T, account, user, linkID string) {
			if n, err := db.RequestRefresh(t.Context(), users[user], linkID); err != nil || n != 1 {
				t.Fatalf("RequestRefresh = %d, %v", n, err)
			}
		},
		deactivate: func(t *testing.T, account, linkID string) {
			if err := db.MarkLinkStatus(t.Context(), linkID, pulse.LinkNeedsReauth, "401"); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// TestStores runs one contract against both stores: accounts claimed
// refresh first then most overdue, with all their active links; leases;
// Reschedule serving refresh requests; inactive links left out.
func TestStores(t *testing.T) {
	for name, mk := range map[string]func(*testing.T) storeFixture{
		"memory":     func(*testing.T) storeFixture { return memFixture() },
		"postgresql": pgFixture,
	} {
		t.Run(name, func(t *testing.T) { testStore(t, mk(t)) })
	}
}

func testStore(t *testing.T, f storeFixture) {
	ctx := t.Context()
	base := time.Now().UTC().Truncate(time.Second).Add(time.Minute)
	a1 := f.add(t, "a", "ann", base.Add(-3*time.Hour))
	a2 := f.add(t, "a", "bob", base.Add(-3*time.Hour))
	b1 := f.add(t, "b", "ann", base.Add(-2*time.Hour))
	c1 := f.add(t, "c", "cat", base.Add(-time.Hour))
	f.add(t, "d", "dan", base.Add(time.Hour))
	if n, err := f.store.CountAccounts(ctx, topics.X); err != nil || n != 4 {
		t.Fatalf("CountAccounts = %d, %v; want 4", n, err)
	}
	claim := func(at time.Time, limit int) []scheduler.Due {
		t.Helper()
		due, err := f.store.ClaimDue(ctx, topics.X, at, limit, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return due
	}
	ids := func(due []scheduler.Due) []string {
		var out []string
		for _, d := range due {
			out = append(out, d.AccountID)
		}
		return out
	}

	// A refresh press puts c first; then the most overdue.
	f.refresh(t, "c", "cat", c1)
	due := claim(base, 2)
	if got := ids(due); !slices.Equal(got, []string{"c", "a"}) {
		t.Fatalf("claimed %v, want [c a]", got)
	}
	if due[0].RefreshAt.IsZero() || !due[1].RefreshAt.IsZero() {
		t.Fatalf("refresh times %v, %v: want c's only", due[0].RefreshAt, due[1].RefreshAt)
	}
	var links []string
	for _, l := range due[1].Links {
		links = append(links, l.LinkID)
	}
	if !slices.Equal(links, []string{a1, a2}) {
		t.Fatalf("a's links %v, want %v", links, []string{a1, a2})
	}
	if got := ids(claim(base, 10)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("second claim %v, want [b]", got)
	}
	if got := claim(base, 10); len(got) != 0 {
		t.Fatalf("claimed accounts under lease: %v", ids(got))
	}

	// c's fetch is scheduled and serves its request; a's is not (deferred):
	// after the lease, only a and b are due again.
	if err := f.store.Reschedule(ctx, topics.X, []scheduler.Next{
		{AccountID: "c", At: base.Add(2 * time.Hour), Served: due[0].RefreshAt, Claimed: base},
		{AccountID: "a", At: base.Add(30 * time.Second), Claimed: base},
	}); err != nil {
		t.Fatal(err)
	}
	later := base.Add(2 * time.Minute)
	if got := ids(claim(later, 10)); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("after the lease claimed %v, want [a b]", got)
	}

	// An account with one link left active keeps it; with none, it is not
	// claimed.
	f.deactivate(t, "a", a1)
	f.deactivate(t, "b", b1)
	if n, err := f.store.CountAccounts(ctx, topics.X); err != nil || n != 3 {
		t.Fatalf("CountAccounts = %d, %v; want 3", n, err)
	}
	due = claim(later.Add(2*time.Minute), 10)
	if got := ids(due); !slices.Equal(got, []string{"a"}) || len(due[0].Links) != 1 || due[0].Links[0].LinkID != a2 {
		t.Fatalf("claimed %+v, want a with its active link only", due)
	}
	// d comes due at its time (and a, whose lease ran out, again).
	if got := ids(claim(base.Add(time.Hour), 10)); !slices.Equal(got, []string{"a", "d"}) {
		t.Fatalf("at d's time claimed %v", got)
	}
}

// TestMemStoreFarAndPastDueTimes covers the MemStore's timing wheel
// beyond its span (about 18 hours) and behind its cursor: accounts due a
// day out are claimed at their time, not before; one added overdue after
// the cursor moved on is claimed at once; and Reschedule finds accounts by
// the claim's Key or, when the Key is not the store's, by id.
func TestMemStoreFarAndPastDueTimes(t *testing.T) {
	ctx := t.Context()
	m := scheduler.NewMemStore()
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	m.AddLink(topics.X, "now", "l1", "u1", base)
	m.AddLink(topics.X, "far", "l2", "u2", base.Add(20*time.Hour))
	claim := func(at time.Time) []string {
		t.Helper()
		due, err := m.ClaimDue(ctx, topics.X, at, 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range due {
			ids = append(ids, d.AccountID)
		}
		return ids
	}
	if got := claim(base); !slices.Equal(got, []string{"now"}) {
		t.Fatalf("at the start claimed %v", got)
	}
	// Rescheduled 30 h out by id (Key 0), past the wheel's span too.
	if err := m.Reschedule(ctx, topics.X, []scheduler.Next{{AccountID: "now", At: base.Add(30 * time.Hour), Key: 999}}); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Duration{time.Minute, 2 * time.Hour, 19*time.Hour + 59*time.Minute} {
		if got := claim(base.Add(at)); len(got) != 0 {
			t.Fatalf("at +%v claimed %v", at, got)
		}
	}
	// Overdue when added, behind the cursor: claimed at once.
	m.AddLink(topics.X, "late", "l3", "u3", base.Add(time.Hour))
	if got := claim(base.Add(19*time.Hour + 59*time.Minute)); !slices.Equal(got, []string{"late"}) {
		t.Fatalf("the overdue account: claimed %v", got)
	}
	if got := claim(base.Add(20 * time.Hour)); !slices.Contains(got, "far") { // and late, its lease out
		t.Fatalf("at +20h claimed %v", got)
	}
	due, err := m.ClaimDue(ctx, topics.X, base.Add(30*time.Hour), 10, time.Minute)
	// far and late again too: their leases ran out.
	if err != nil || len(due) != 3 || due[2].AccountID != "now" || due[2].Key == 0 {
		t.Fatalf("at +30h claimed %+v, %v; want now last, with its key", due, err)
	}
	// Rescheduled by Key, a day out: not due before.
	if err := m.Reschedule(ctx, topics.X, []scheduler.Next{{AccountID: "now", At: base.Add(54 * time.Hour), Key: due[2].Key}}); err != nil {
		t.Fatal(err)
	}
	if at, _ := m.NextDue(topics.X, "now"); !at.Equal(base.Add(54 * time.Hour)) {
		t.Fatalf("now is due at %v", at)
	}
	if got := claim(base.Add(53 * time.Hour)); slices.Contains(got, "now") {
		t.Fatalf("claimed now a day early: %v", got)
	}
	if got := claim(base.Add(54 * time.Hour)); !slices.Contains(got, "now") {
		t.Fatalf("at +54h claimed %v", got)
	}
}
