package postgres

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// setNext sets a link's next fetch time.
func setNext(t *testing.T, db *DB, l pulse.Link, at time.Time) {
	t.Helper()
	if _, err := db.pool.Exec(t.Context(), "UPDATE links SET next_fetch_at = $2 WHERE id = $1", l.ID, at); err != nil {
		t.Fatal(err)
	}
}

func TestRequestRefresh(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	clock := newFakeClock()
	db.now = clock.now
	t0 := clock.now()
	ada := mustCreateUser(t, db, "ada@example.com")
	bob := mustCreateUser(t, db, "bob@example.com")
	carol := mustCreateUser(t, db, "carol@example.com")
	x := mustUpsertLink(t, db, ada.ID, topics.X, "x")
	ig := mustUpsertLink(t, db, ada.ID, topics.Instagram, "ig")
	fb := mustUpsertLink(t, db, ada.ID, topics.Facebook, "fb")        // due before now
	li := mustUpsertLink(t, db, ada.ID, topics.LinkedIn, "li")        // needs_reauth
	revoked := mustUpsertLink(t, db, ada.ID, topics.LinkedIn, "li-2") // revoked
	bobs := mustUpsertLink(t, db, bob.ID, topics.X, "x")
	for _, l := range []pulse.Link{x, ig, li, revoked, bobs} {
		setNext(t, db, l, t0.Add(time.Hour))
	}
	setNext(t, db, fb, t0.Add(-time.Hour))
	if err := db.MarkLinkStatus(t.Context(), li.ID, pulse.LinkNeedsReauth, "401"); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkLinkStatus(t.Context(), revoked.ID, pulse.LinkRevoked, "revoked"); err != nil {
		t.Fatal(err)
	}

	// Steps run in order against the same links; advance moves the clock
	// before the step.
	for _, tc := range []struct {
		name           string
		advance        time.Duration
		userID, linkID string
		want           int
		code           string
	}{
		{"one link", 0, ada.ID, x.ID, 1, ""},
		{"same link within a minute is debounced", 30 * time.Second, ada.ID, x.ID, 0, ""},
		{"all links skips the debounced one", 0, ada.ID, "", 2, ""}, // ig, fb
		{"all links again within a minute", 20 * time.Second, ada.ID, "", 0, ""},
		{"a minute after the first request", 30 * time.Second, ada.ID, x.ID, 1, ""},
		{"a minute after the others", 50 * time.Second, ada.ID, "", 2, ""}, // ig, fb
		{"other user's link", 0, bob.ID, x.ID, 0, pulse.ENOTFOUND},
		{"own link by other user's id", 0, ada.ID, bobs.ID, 0, pulse.ENOTFOUND},
		{"unknown link", 0, ada.ID, "00000000-0000-0000-0000-000000000001", 0, pulse.ENOTFOUND},
		{"malformed link id", 0, ada.ID, "x", 0, pulse.ENOTFOUND},
		{"malformed user id", 0, "x", x.ID, 0, pulse.ENOTFOUND},
		{"malformed user id, all links", 0, "x", "", 0, pulse.ENOTFOUND},
		{"needs re-authorization", 0, ada.ID, li.ID, 0, pulse.EINVALID},
		{"revoked", 0, ada.ID, revoked.ID, 0, pulse.EINVALID},
		{"user without links", 0, carol.ID, "", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock.advance(tc.advance)
			n, err := db.RequestRefresh(t.Context(), tc.userID, tc.linkID)
			if tc.code != "" {
				wantCode(t, err, tc.code)
			} else if err != nil {
				t.Fatal(err)
			}
			if n != tc.want {
				t.Fatalf("RequestRefresh = %d, want %d", n, tc.want)
			}
		})
	}
	_, err := db.RequestRefresh(t.Context(), ada.ID, li.ID)
	if msg := pulse.ErrorMessage(err); !strings.Contains(msg, "re-authorization") {
		t.Fatalf("ErrorMessage = %q, want it to mention re-authorization", msg)
	}

	// The requested links are due now (fb kept its earlier time) and
	// flagged; the others are untouched.
	now := clock.now()
	for _, tc := range []struct {
		name      string
		link      pulse.Link
		next      time.Time
		requested bool
	}{
		{"x", x, t0, true},
		{"ig", ig, t0.Add(30 * time.Second), true},
		{"fb", fb, t0.Add(-time.Hour), true},
		{"needs_reauth", li, t0.Add(time.Hour), false},
		{"revoked", revoked, t0.Add(time.Hour), false},
		{"bob's", bobs, t0.Add(time.Hour), false},
	} {
		t.Run("state of "+tc.name, func(t *testing.T) {
			got, err := db.LinkByID(t.Context(), tc.link.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !got.NextFetchAt.Equal(tc.next) || got.RefreshRequested != tc.requested {
				t.Fatalf("NextFetchAt = %v, RefreshRequested = %v; want %v, %v",
					got.NextFetchAt, got.RefreshRequested, tc.next, tc.requested)
			}
		})
	}
	// The scheduler claims the requested links' accounts right away.
	var claimed []string
	for _, p := range []topics.Platform{topics.X, topics.Instagram, topics.Facebook, topics.LinkedIn} {
		due, err := db.ClaimDue(t.Context(), p, now, 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range due {
			for _, l := range d.Links {
				claimed = append(claimed, l.LinkID)
			}
		}
	}
	// Bob linked the same X account as Ada: its fetch is claimed with
	// hers, one fetch for both.
	want := []string{x.ID, bobs.ID, ig.ID, fb.ID}
	slices.Sort(claimed)
	slices.Sort(want)
	if !slices.Equal(claimed, want) {
		t.Fatalf("claimed %v, want %v", claimed, want)
	}
}

func TestMarkFetched(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "ada@example.com")
	l := mustUpsertLink(t, db, u.ID, topics.X, "a")
	now := time.Now().UTC().Truncate(time.Microsecond)

	// MarkFetched never moves backwards.
	if err := db.MarkFetched(t.Context(), l.ID, now); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkFetched(t.Context(), l.ID, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ := db.LinkByID(t.Context(), l.ID)
	if !got.LastFetchedAt.Equal(now) {
		t.Fatalf("LastFetchedAt = %v, want %v", got.LastFetchedAt, now)
	}
	wantCode(t, db.MarkFetched(t.Context(), "00000000-0000-0000-0000-000000000001", now), pulse.ENOTFOUND)
}

// The posts state a claim reports is its links' together: the cursor only
// when every link has one (a link added later makes the next read full),
// the oldest re-read times; MarkPostsRead keeps the cursor when given
// none and never moves re-read times back.
func TestMarkPostsReadAndClaim(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	ada := mustCreateUser(t, db, "ada@example.com")
	bob := mustCreateUser(t, db, "bob@example.com")
	a := mustUpsertLink(t, db, ada.ID, topics.X, "shared")
	now := time.Now().UTC().Truncate(time.Microsecond)
	claim := func() pulse.PostsState {
		t.Helper()
		if _, err := db.pool.Exec(t.Context(), "UPDATE links SET next_fetch_at = $1", now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		due, err := db.ClaimDue(t.Context(), topics.X, now, 10, time.Minute)
		if err != nil || len(due) != 1 {
			t.Fatalf("claim: %v, %v", due, err)
		}
		return due[0].Posts
	}
	if st := claim(); st != (pulse.PostsState{}) {
		t.Fatalf("a link never read: %+v", st)
	}
	mark := func(l pulse.Link, r pulse.PostsRead) {
		t.Helper()
		if err := db.MarkPostsRead(t.Context(), l.ID, r); err != nil {
			t.Fatal(err)
		}
	}
	mark(a, pulse.PostsRead{Cursor: "c1", Days: topics.RecentDays, At: now.Add(-2 * time.Hour)})
	if st := claim(); st.Cursor != "c1" || !st.WeekAt.Equal(now.Add(-2*time.Hour)) || !st.MonthAt.Equal(st.WeekAt) {
		t.Fatalf("after a full read: %+v", st)
	}
	mark(a, pulse.PostsRead{Cursor: "", Days: 7, At: now.Add(-time.Hour)})       // no new post
	mark(a, pulse.PostsRead{Cursor: "c2", Days: 0, At: now})                     // new posts only
	mark(a, pulse.PostsRead{Cursor: "c2", Days: 7, At: now.Add(-3 * time.Hour)}) // late: times stay
	if st := claim(); st.Cursor != "c2" || !st.WeekAt.Equal(now.Add(-time.Hour)) || !st.MonthAt.Equal(now.Add(-2*time.Hour)) {
		t.Fatalf("after incremental reads: %+v", st)
	}

	// Bob links the same account: the account's next read is full.
	b := mustUpsertLink(t, db, bob.ID, topics.X, "shared")
	if st := claim(); st.Cursor != "" || !st.WeekAt.IsZero() || !st.MonthAt.IsZero() {
		t.Fatalf("with a link never read: %+v", st)
	}
	for _, l := range []pulse.Link{a, b} {
		mark(l, pulse.PostsRead{Cursor: "c3", Days: topics.RecentDays, At: now})
	}
	if st := claim(); st.Cursor != "c3" || !st.MonthAt.Equal(now) {
		t.Fatalf("after a full read of both: %+v", st)
	}
	wantCode(t, db.MarkPostsRead(t.Context(), "00000000-0000-0000-0000-000000000001", pulse.PostsRead{At: now}), pulse.ENOTFOUND)
}
