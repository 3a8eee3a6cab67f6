package postgres

import (
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

func TestClaimExpiringLinks(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	clock := newFakeClock()
	db.now = clock.now
	now := clock.now()
	u := mustCreateUser(t, db, "ada@example.com")
	upsert := func(account string, expiry time.Time) pulse.Link {
		tok := testToken(account)
		tok.Expiry = expiry
		l, err := db.UpsertLink(t.Context(), u.ID, topics.X, account, "@"+account, tok, "")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	expired := upsert("expired", now.Add(-time.Hour))
	soon := upsert("soon", now.Add(5*time.Minute))
	upsert("later", now.Add(time.Hour))
	upsert("never", time.Time{})
	reauth := upsert("reauth", now.Add(time.Minute))
	if err := db.MarkLinkStatus(t.Context(), reauth.ID, pulse.LinkNeedsReauth, "revoked"); err != nil {
		t.Fatal(err)
	}

	before := now.Add(10 * time.Minute)
	got, err := db.ClaimExpiringLinks(t.Context(), before, now, 10, time.Minute)
	if err != nil || len(got) != 2 || got[0].ID != expired.ID || got[1].ID != soon.ID {
		t.Fatalf("ClaimExpiringLinks = %+v, %v; want expired and soon", got, err)
	}
	if again, err := db.ClaimExpiringLinks(t.Context(), before, now, 10, time.Minute); err != nil || len(again) != 0 {
		t.Fatalf("claimed again within the lease: %+v, %v", again, err)
	}
	// A stored token ends the claim; an unrefreshed one is claimable after
	// the lease.
	if err := db.UpdateLinkToken(t.Context(), soon.ID, &oauth2.Token{AccessToken: "a", Expiry: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	got, err = db.ClaimExpiringLinks(t.Context(), before, now, 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != soon.ID {
		t.Fatalf("after UpdateLinkToken: %+v, %v", got, err)
	}
	clock.advance(time.Minute)
	got, err = db.ClaimExpiringLinks(t.Context(), before, clock.now(), 1, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != expired.ID {
		t.Fatalf("after the lease, limit 1: %+v, %v", got, err)
	}
	_, err = db.ClaimExpiringLinks(t.Context(), before, now, 0, time.Minute)
	wantCode(t, err, pulse.EINVALID)
	_, err = db.ClaimExpiringLinks(t.Context(), before, now, 1, 0)
	wantCode(t, err, pulse.EINVALID)
}

func TestMarkLinkStatusIfUnchanged(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	clock := newFakeClock()
	db.now = clock.now
	u := mustCreateUser(t, db, "ada@example.com")
	l := mustUpsertLink(t, db, u.ID, topics.X, "1")

	// The token was replaced after l was read: the old one's failure does
	// not count.
	clock.advance(time.Second)
	if err := db.UpdateLinkToken(t.Context(), l.ID, testToken("new")); err != nil {
		t.Fatal(err)
	}
	changed, err := db.MarkLinkStatusIfUnchanged(t.Context(), l.ID, l.UpdatedAt, pulse.LinkNeedsReauth, "rejected")
	if err != nil || changed {
		t.Fatalf("MarkLinkStatusIfUnchanged on a stale read = %v, %v; want false", changed, err)
	}
	cur, err := db.LinkByID(t.Context(), l.ID)
	if err != nil || cur.Status != pulse.LinkActive {
		t.Fatalf("link = %+v, %v; want still active", cur, err)
	}
	clock.advance(time.Second)
	changed, err = db.MarkLinkStatusIfUnchanged(t.Context(), l.ID, cur.UpdatedAt, pulse.LinkNeedsReauth, "rejected")
	if err != nil || !changed {
		t.Fatalf("MarkLinkStatusIfUnchanged = %v, %v; want true", changed, err)
	}
	cur, err = db.LinkByID(t.Context(), l.ID)
	if err != nil || cur.Status != pulse.LinkNeedsReauth || cur.StatusReason != "rejected" || !cur.StatusAt.Equal(clock.now()) {
		t.Fatalf("link = %+v, %v", cur, err)
	}
	_, err = db.MarkLinkStatusIfUnchanged(t.Context(), l.ID, cur.UpdatedAt, "paused", "")
	wantCode(t, err, pulse.EINVALID)
	_, err = db.MarkLinkStatusIfUnchanged(t.Context(), "00000000-0000-0000-0000-000000000001", cur.UpdatedAt, pulse.LinkRevoked, "")
	wantCode(t, err, pulse.ENOTFOUND)
}
