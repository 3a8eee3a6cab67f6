package postgres

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

func linkIDs(ls []pulse.Link) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.ID)
	}
	return out
}

func TestClaimDueLinks(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "ada@example.com")
	now := time.Now().UTC().Truncate(time.Microsecond)

	// base is each link's next fetch time, restored before every case.
	type seed struct {
		platform topics.Platform
		next     time.Time
		status   pulse.LinkStatus
	}
	seeds := []seed{
		{topics.X, now.Add(-1 * time.Minute), pulse.LinkActive},          // 0
		{topics.X, now.Add(-2 * time.Minute), pulse.LinkActive},          // 1
		{topics.X, now.Add(-3 * time.Minute), pulse.LinkRevoked},         // 2
		{topics.X, now.Add(-4 * time.Minute), pulse.LinkActive},          // 3
		{topics.X, now.Add(-5 * time.Minute), pulse.LinkNeedsReauth},     // 4
		{topics.X, now.Add(time.Hour), pulse.LinkActive},                 // 5
		{topics.X, now.Add(-4 * time.Minute), pulse.LinkActive},          // 6: ties with 3
		{topics.Instagram, now.Add(-10 * time.Minute), pulse.LinkActive}, // 7
	}
	var links []pulse.Link
	for i, s := range seeds {
		l := mustUpsertLink(t, db, u.ID, s.platform, string(rune('a'+i)))
		if s.status != pulse.LinkActive {
			if err := db.MarkLinkStatus(t.Context(), l.ID, s.status, "test"); err != nil {
				t.Fatal(err)
			}
		}
		links = append(links, l)
	}
	reset := func(t *testing.T) {
		t.Helper()
		for i, l := range links {
			if err := db.MarkScheduled(t.Context(), l.ID, seeds[i].next); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Links 3 and 6 are due at the same time; ties go by id.
	tied := linkIDs([]pulse.Link{links[3], links[6]})
	slices.Sort(tied)
	pick := func(is ...int) []string {
		out := slices.Clone(tied)
		for _, i := range is {
			out = append(out, links[i].ID)
		}
		return out
	}

	const lease = 90 * time.Second
	for _, tc := range []struct {
		name     string
		platform topics.Platform
		now      time.Time
		limit    int
		want     []string
	}{
		{"active due links, most overdue first", topics.X, now, 10, pick(1, 0)},
		{"limit", topics.X, now, 2, tied},
		{"limit cuts a tie by id", topics.X, now, 1, tied[:1]},
		{"earlier now", topics.X, now.Add(-150 * time.Second), 10, tied},
		{"due exactly now", topics.X, now.Add(-time.Minute), 10, pick(1, 0)},
		{"nothing due", topics.X, now.Add(-time.Hour), 10, nil},
		{"future link due later", topics.X, now.Add(2 * time.Hour), 10, pick(1, 0, 5)},
		{"other platform", topics.Instagram, now, 10, linkIDs(links[7:8])},
		{"platform without links", topics.LinkedIn, now, 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reset(t)
			claimed, err := db.ClaimDueLinks(t.Context(), tc.platform, tc.now, tc.limit, lease)
			if err != nil {
				t.Fatal(err)
			}
			if got := linkIDs(claimed); !slices.Equal(got, tc.want) {
				t.Fatalf("ClaimDueLinks = %v, want %v", got, tc.want)
			}
			for _, l := range claimed {
				i := slices.IndexFunc(links, func(x pulse.Link) bool { return x.ID == l.ID })
				if !l.NextFetchAt.Equal(seeds[i].next) {
					t.Errorf("claimed link %d: NextFetchAt = %v, want the pre-claim %v", i, l.NextFetchAt, seeds[i].next)
				}
				if l.Platform != tc.platform || l.Status != pulse.LinkActive {
					t.Errorf("claimed link %d = %+v", i, l)
				}
			}
			// Claimed links are leased; the others are untouched.
			for i, l := range links {
				got, err := db.LinkByID(t.Context(), l.ID)
				if err != nil {
					t.Fatal(err)
				}
				want := seeds[i].next
				if slices.Contains(tc.want, l.ID) {
					want = tc.now.Add(lease)
				}
				if !got.NextFetchAt.Equal(want) {
					t.Errorf("link %d: stored NextFetchAt = %v, want %v", i, got.NextFetchAt, want)
				}
			}
		})
	}

	for _, tc := range []struct {
		name  string
		limit int
		lease time.Duration
	}{
		{"zero limit", 0, time.Minute},
		{"negative limit", -1, time.Minute},
		{"zero lease", 10, 0},
		{"negative lease", 10, -time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.ClaimDueLinks(t.Context(), topics.X, now, tc.limit, tc.lease)
			wantCode(t, err, pulse.EINVALID)
		})
	}
}

func TestClaimDueLinksLease(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "ada@example.com")
	now := time.Now().UTC().Truncate(time.Microsecond)
	a := mustUpsertLink(t, db, u.ID, topics.X, "a")
	b := mustUpsertLink(t, db, u.ID, topics.X, "b")
	for _, l := range []pulse.Link{a, b} {
		if err := db.MarkScheduled(t.Context(), l.ID, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	const lease = time.Minute
	claim := func(at time.Time) []string {
		t.Helper()
		claimed, err := db.ClaimDueLinks(t.Context(), topics.X, at, 10, lease)
		if err != nil {
			t.Fatal(err)
		}
		return linkIDs(claimed)
	}
	both := linkIDs([]pulse.Link{a, b})
	slices.Sort(both)
	if got := claim(now); len(got) != 2 {
		t.Fatalf("first claim = %v, want both links", got)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want []string
	}{
		{"claimed again at once", now, nil},
		{"within the lease", now.Add(lease - time.Microsecond), nil},
	} {
		if got := claim(tc.at); !slices.Equal(got, tc.want) {
			t.Fatalf("%s: ClaimDueLinks = %v, want %v", tc.name, got, tc.want)
		}
	}
	// The claimer died without MarkScheduled: the links come back once the
	// lease has passed.
	if got := claim(now.Add(lease)); !slices.Equal(got, both) {
		t.Fatalf("after the lease: ClaimDueLinks = %v, want %v", got, both)
	}
	// MarkScheduled ends the lease with the real next fetch time.
	if err := db.MarkScheduled(t.Context(), a.ID, now.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := claim(now.Add(3 * lease)); !slices.Equal(got, []string{b.ID}) {
		t.Fatalf("after MarkScheduled: ClaimDueLinks = %v, want only %s", got, b.ID)
	}
}

func TestClaimDueLinksSkipsLockedLinks(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "ada@example.com")
	now := time.Now().UTC().Truncate(time.Microsecond)
	a := mustUpsertLink(t, db, u.ID, topics.X, "a")
	b := mustUpsertLink(t, db, u.ID, topics.X, "b")
	for _, l := range []pulse.Link{a, b} {
		if err := db.MarkScheduled(t.Context(), l.ID, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	// A concurrent claim holds a's row lock: the claim neither waits for it
	// nor returns a.
	err := db.withTx(t.Context(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), "SELECT 1 FROM links WHERE id = $1 FOR UPDATE", a.ID); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		claimed, err := db.ClaimDueLinks(ctx, topics.X, now, 10, time.Minute)
		if err != nil {
			return err
		}
		if got := linkIDs(claimed); !slices.Equal(got, []string{b.ID}) {
			t.Errorf("ClaimDueLinks with a locked = %v, want [%s]", got, b.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := db.ClaimDueLinks(t.Context(), topics.X, now, 10, time.Minute)
	if err != nil || !slices.Equal(linkIDs(claimed), []string{a.ID}) {
		t.Fatalf("ClaimDueLinks after unlock = %v, %v; want [%s]", linkIDs(claimed), err, a.ID)
	}
}

func TestClaimDueLinksConcurrentClaimersNeverShare(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	// A second handle, with its own pool, stands for another replica.
	db2, err := openConfig(t.Context(), "test", db.pool.Config())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db2.Close)
	u := mustCreateUser(t, db, "ada@example.com")
	now := time.Now().UTC().Truncate(time.Microsecond)

	// 300 due links at distinct times, plus 20 not yet due.
	const due, notDue = 300, 20
	exec(t, db, `INSERT INTO links (id, user_id, platform, account_id, access_token_enc, next_fetch_at)
		SELECT gen_random_uuid(), $1, $2, 'acct-' || g, '\x00',
			CASE WHEN g <= $3 THEN $4::timestamptz - g * interval '1 second'
				ELSE $4::timestamptz + interval '1 hour' END
		FROM generate_series(1, $5::int) AS g`,
		u.ID, string(topics.X), due, now, due+notDue)
	var want []string
	err = db.withConn(t.Context(), func(c *pgx.Conn) error {
		rows, err := c.Query(t.Context(), "SELECT id::text FROM links WHERE next_fetch_at <= $1", now)
		if err != nil {
			return err
		}
		want, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil || len(want) != due {
		t.Fatalf("due links: %d, %v; want %d", len(want), err, due)
	}

	// Each claimer claims small batches until it finds nothing due. They
	// start together, each with a connection already open.
	const claimers = 4
	got := make([][]string, claimers)
	var ready, wg sync.WaitGroup
	start := make(chan struct{})
	ready.Add(claimers)
	for i := range claimers {
		h := []*DB{db, db2}[i%2]
		wg.Go(func() {
			var once sync.Once
			signal := func() { once.Do(ready.Done) }
			defer signal() // if the connection fails
			err := h.withConn(t.Context(), func(c *pgx.Conn) error {
				signal()
				<-start
				return c.Ping(t.Context())
			})
			if err != nil {
				t.Errorf("claimer %d: %v", i, err)
				return
			}
			for {
				claimed, err := h.ClaimDueLinks(t.Context(), topics.X, now, 3, time.Hour)
				if err != nil {
					t.Errorf("claimer %d: %v", i, err)
					return
				}
				if len(claimed) == 0 {
					return
				}
				for j := 1; j < len(claimed); j++ {
					if claimed[j].NextFetchAt.Before(claimed[j-1].NextFetchAt) {
						t.Errorf("claimer %d: batch not most overdue first", i)
					}
				}
				got[i] = append(got[i], linkIDs(claimed)...)
			}
		})
	}
	ready.Wait()
	close(start)
	wg.Wait()

	owner := map[string]int{}
	for i, ids := range got {
		for _, id := range ids {
			if j, dup := owner[id]; dup {
				t.Fatalf("link %s claimed by claimers %d and %d", id, j, i)
			}
			owner[id] = i
		}
	}
	all := slices.Concat(got...)
	slices.Sort(all)
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Fatalf("claimers got %d links together, want all %d due links", len(all), len(want))
	}
	t.Logf("claims per claimer: %d %d %d %d", len(got[0]), len(got[1]), len(got[2]), len(got[3]))
}

func TestMarkScheduled(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "ada@example.com")
	l := mustUpsertLink(t, db, u.ID, topics.X, "a")
	if n, err := db.RequestRefresh(t.Context(), u.ID, l.ID); err != nil || n != 1 {
		t.Fatalf("RequestRefresh = %d, %v; want 1", n, err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	claimed, err := db.ClaimDueLinks(t.Context(), topics.X, now, 10, time.Minute)
	if err != nil || len(claimed) != 1 || !claimed[0].RefreshRequested {
		t.Fatalf("ClaimDueLinks = %+v, %v; want the link, refresh requested", claimed, err)
	}
	next := now.Add(24 * time.Hour)
	if err := db.MarkScheduled(t.Context(), l.ID, next); err != nil {
		t.Fatal(err)
	}
	got, err := db.LinkByID(t.Context(), l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RefreshRequested || !got.NextFetchAt.Equal(next) {
		t.Fatalf("after MarkScheduled: RefreshRequested = %v, NextFetchAt = %v; want false, %v",
			got.RefreshRequested, got.NextFetchAt, next)
	}
	wantCode(t, db.MarkScheduled(t.Context(), "00000000-0000-0000-0000-000000000001", next), pulse.ENOTFOUND)
	wantCode(t, db.MarkScheduled(t.Context(), "x", next), pulse.ENOTFOUND)
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
		if err := db.MarkScheduled(t.Context(), l.ID, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.MarkScheduled(t.Context(), fb.ID, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
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
	// The scheduler claims the requested links right away.
	var claimed []string
	for _, p := range []topics.Platform{topics.X, topics.Instagram, topics.Facebook, topics.LinkedIn} {
		ls, err := db.ClaimDueLinks(t.Context(), p, now, 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		claimed = append(claimed, linkIDs(ls)...)
	}
	if want := linkIDs([]pulse.Link{x, ig, fb}); !slices.Equal(claimed, want) {
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
