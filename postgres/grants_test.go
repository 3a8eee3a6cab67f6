package postgres

import (
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// TestLinkGrantChooseOnce: a grant lists its accounts to its user only;
// redeeming links exactly the chosen ones with the grant's token, once;
// an account outside the grant links nothing; an expired grant is gone.
func TestLinkGrantChooseOnce(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	clock := newFakeClock()
	db.now = clock.now
	ctx := t.Context()
	u := mustCreateUser(t, db, "agency@example.com")
	other := mustCreateUser(t, db, "other@example.com")
	accts := []pulse.GrantAccount{{ID: "p1", Handle: "first"}, {ID: "p2", Handle: "second"}, {ID: "p3", Handle: "third"}}
	tok := &oauth2.Token{AccessToken: "user-token-value", TokenType: "bearer", Expiry: clock.now().Add(60 * 24 * time.Hour)}
	g, err := db.CreateLinkGrant(ctx, u.ID, topics.Facebook, accts, tok, "pages_show_list", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := db.LinkGrant(ctx, u.ID, g.ID); err != nil || len(got.Accounts) != 3 || got.Accounts[1] != accts[1] || got.Platform != topics.Facebook {
		t.Fatalf("LinkGrant = %+v, %v", got, err)
	}
	if _, err := db.LinkGrant(ctx, other.ID, g.ID); pulse.ErrorCode(err) != pulse.ENOTFOUND {
		t.Fatalf("another user's LinkGrant: %v, want NotFound", err)
	}
	if links, _ := db.Links(ctx, u.ID); len(links) != 0 {
		t.Fatalf("links before choosing: %+v", links)
	}
	if _, err := db.RedeemLinkGrant(ctx, u.ID, g.ID, []string{"p2", "p9"}); pulse.ErrorCode(err) != pulse.EINVALID {
		t.Fatalf("an account outside the grant: %v, want Invalid", err)
	}
	if _, err := db.RedeemLinkGrant(ctx, other.ID, g.ID, []string{"p2"}); pulse.ErrorCode(err) != pulse.ENOTFOUND {
		t.Fatalf("another user's redeem: %v, want NotFound", err)
	}
	links, err := db.RedeemLinkGrant(ctx, u.ID, g.ID, []string{"p2", "p3"})
	if err != nil || len(links) != 2 || links[0].AccountID != "p2" || links[0].Handle != "second" || links[1].AccountID != "p3" {
		t.Fatalf("redeem = %+v, %v", links, err)
	}
	for _, l := range links {
		got, _, err := db.LinkToken(ctx, l.ID)
		if err != nil || got.AccessToken != tok.AccessToken || !got.Expiry.Equal(tok.Expiry) {
			t.Errorf("link %s token %+v, %v", l.AccountID, got, err)
		}
	}
	if _, err := db.RedeemLinkGrant(ctx, u.ID, g.ID, []string{"p1"}); pulse.ErrorCode(err) != pulse.ENOTFOUND {
		t.Fatalf("second redeem: %v, want NotFound", err)
	}
	if all, _ := db.Links(ctx, u.ID); len(all) != 2 {
		t.Fatalf("links %+v, want the two chosen", all)
	}

	g2, err := db.CreateLinkGrant(ctx, u.ID, topics.Facebook, accts, tok, "", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clock.advance(10 * time.Minute)
	if _, err := db.LinkGrant(ctx, u.ID, g2.ID); pulse.ErrorCode(err) != pulse.ENOTFOUND {
		t.Fatalf("expired grant: %v, want NotFound", err)
	}
	if n, err := db.DeleteExpired(ctx, clock.now()); err != nil || n < 1 {
		t.Fatalf("DeleteExpired = %d, %v; want the expired grant deleted", n, err)
	}
	if _, err := db.CreateLinkGrant(ctx, u.ID, topics.Facebook, nil, tok, "", time.Minute); pulse.ErrorCode(err) != pulse.EINVALID {
		t.Fatalf("a grant of no account: %v, want Invalid", err)
	}
}
