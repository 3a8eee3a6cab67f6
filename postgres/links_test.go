package postgres

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

func TestUpsertLinkAndLinkToken(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "ada@example.com")
	tok := testToken("a")

	l, err := db.UpsertLink(t.Context(), u.ID, topics.X, "1001", "@ada", tok, "tweet.read users.read")
	if err != nil {
		t.Fatalf("UpsertLink: %v", err)
	}
	if l.ID == "" || l.UserID != u.ID || l.Platform != topics.X || l.AccountID != "1001" ||
		l.Handle != "@ada" || l.Status != pulse.LinkActive || l.Scopes != "tweet.read users.read" ||
		!l.ExpiresAt.Equal(tok.Expiry) || !l.LastFetchedAt.IsZero() || l.NextFetchAt.IsZero() {
		t.Fatalf("UpsertLink = %+v", l)
	}

	gotTok, gotLink, err := db.LinkToken(t.Context(), l.ID)
	if err != nil {
		t.Fatalf("LinkToken: %v", err)
	}
	if gotTok.AccessToken != tok.AccessToken || gotTok.RefreshToken != tok.RefreshToken ||
		gotTok.TokenType != tok.TokenType || !gotTok.Expiry.Equal(tok.Expiry) {
		t.Fatalf("LinkToken token = %+v, want %+v", gotTok, tok)
	}
	if gotLink != l {
		t.Fatalf("LinkToken link = %+v, want %+v", gotLink, l)
	}

	// The stored row holds neither token, in plain text or hex.
	for _, q := range []string{
		"SELECT l::text FROM links l WHERE id = $1",
		"SELECT access_token_enc::text FROM links WHERE id = $1",
		"SELECT refresh_token_enc::text FROM links WHERE id = $1",
		"SELECT encode(access_token_enc, 'escape') FROM links WHERE id = $1",
		"SELECT encode(refresh_token_enc, 'escape') FROM links WHERE id = $1",
	} {
		raw := queryString(t, db, q, l.ID)
		for _, secret := range []string{tok.AccessToken, tok.RefreshToken} {
			if strings.Contains(raw, secret) || strings.Contains(raw, hex.EncodeToString([]byte(secret))) {
				t.Fatalf("%s: stored row contains a token: %s", q, raw)
			}
		}
	}

	// Relink after the link went bad: same id, active again, due now; a
	// token without refresh token keeps the stored one.
	if err := db.MarkLinkStatus(t.Context(), l.ID, pulse.LinkNeedsReauth, "token revoked"); err != nil {
		t.Fatal(err)
	}
	setNext(t, db, l, time.Now().Add(time.Hour))
	relinked, err := db.UpsertLink(t.Context(), u.ID, topics.X, "1001", "@ada2",
		&oauth2.Token{AccessToken: "access-b-SECRET"}, "tweet.read")
	if err != nil {
		t.Fatalf("relink: %v", err)
	}
	if relinked.ID != l.ID || relinked.Status != pulse.LinkActive || relinked.StatusReason != "" ||
		relinked.Handle != "@ada2" || !relinked.ExpiresAt.IsZero() || relinked.NextFetchAt.After(time.Now()) {
		t.Fatalf("relinked = %+v", relinked)
	}
	gotTok, _, err = db.LinkToken(t.Context(), l.ID)
	if err != nil || gotTok.AccessToken != "access-b-SECRET" || gotTok.RefreshToken != tok.RefreshToken {
		t.Fatalf("LinkToken after relink = %+v, %v", gotTok, err)
	}

	// Refresh.
	refreshed := &oauth2.Token{AccessToken: "access-c", RefreshToken: "refresh-c", TokenType: "bearer",
		Expiry: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := db.UpdateLinkToken(t.Context(), l.ID, refreshed); err != nil {
		t.Fatalf("UpdateLinkToken: %v", err)
	}
	gotTok, gotLink, err = db.LinkToken(t.Context(), l.ID)
	if err != nil || gotTok.AccessToken != "access-c" || gotTok.RefreshToken != "refresh-c" ||
		!gotTok.Expiry.Equal(refreshed.Expiry) || !gotLink.ExpiresAt.Equal(refreshed.Expiry) {
		t.Fatalf("LinkToken after refresh = %+v, %+v, %v", gotTok, gotLink, err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM links"); n != 1 {
		t.Fatalf("links has %d rows, want 1", n)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM data_keys"); n != 1 {
		t.Fatalf("data_keys has %d rows, want 1", n)
	}
}

func TestUpsertLinkInvalid(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "ada@example.com")
	for _, tc := range []struct {
		name, userID string
		platform     topics.Platform
		accountID    string
		tok          *oauth2.Token
		code         string
	}{
		{"no platform", u.ID, "", "1", testToken("a"), pulse.EINVALID},
		{"no account", u.ID, topics.X, "", testToken("a"), pulse.EINVALID},
		{"nil token", u.ID, topics.X, "1", nil, pulse.EINVALID},
		{"no access token", u.ID, topics.X, "1", &oauth2.Token{RefreshToken: "r"}, pulse.EINVALID},
		{"unknown user", "00000000-0000-0000-0000-000000000001", topics.X, "1", testToken("a"), pulse.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.UpsertLink(t.Context(), tc.userID, tc.platform, tc.accountID, "", tc.tok, "")
			wantCode(t, err, tc.code)
		})
	}
	wantCode(t, db.UpdateLinkToken(t.Context(), "00000000-0000-0000-0000-000000000001", testToken("a")), pulse.ENOTFOUND)
	wantCode(t, db.UpdateLinkToken(t.Context(), "00000000-0000-0000-0000-000000000001", nil), pulse.EINVALID)
}

func TestSwappedCiphertextFailsToDecrypt(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	ada := mustCreateUser(t, db, "ada@example.com")
	bob := mustCreateUser(t, db, "bob@example.com")
	a1 := mustUpsertLink(t, db, ada.ID, topics.X, "1")
	a2 := mustUpsertLink(t, db, ada.ID, topics.Instagram, "2")
	b1 := mustUpsertLink(t, db, bob.ID, topics.X, "3")

	for _, tc := range []struct {
		name, sql string
		args      []any
	}{
		{"other link of the same user",
			"UPDATE links SET access_token_enc = (SELECT access_token_enc FROM links WHERE id = $2) WHERE id = $1",
			[]any{a1.ID, a2.ID}},
		{"link of another user",
			"UPDATE links SET access_token_enc = (SELECT access_token_enc FROM links WHERE id = $2) WHERE id = $1",
			[]any{a2.ID, b1.ID}},
		{"other field of the same link",
			"UPDATE links SET access_token_enc = refresh_token_enc, refresh_token_enc = access_token_enc WHERE id = $1",
			[]any{b1.ID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exec(t, db, tc.sql, tc.args...)
			_, _, err := db.LinkToken(t.Context(), tc.args[0].(string))
			wantCode(t, err, pulse.EINTERNAL)
		})
	}
}

func TestLinkScopedToUser(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	ada := mustCreateUser(t, db, "ada@example.com")
	bob := mustCreateUser(t, db, "bob@example.com")
	a1 := mustUpsertLink(t, db, ada.ID, topics.X, "1")
	a2 := mustUpsertLink(t, db, ada.ID, topics.LinkedIn, "2")
	b1 := mustUpsertLink(t, db, bob.ID, topics.X, "1") // same account, other user

	got, err := db.Link(t.Context(), ada.ID, a1.ID)
	if err != nil || got != a1 {
		t.Fatalf("pulse.Link = %+v, %v", got, err)
	}
	got, err = db.LinkByID(t.Context(), b1.ID)
	if err != nil || got != b1 {
		t.Fatalf("LinkByID = %+v, %v", got, err)
	}
	links, err := db.Links(t.Context(), ada.ID)
	if err != nil || !slices.Equal(links, []pulse.Link{a1, a2}) {
		t.Fatalf("Links = %+v, %v", links, err)
	}

	for _, tc := range []struct{ name, userID, linkID string }{
		{"other user's link", ada.ID, b1.ID},
		{"unknown link", ada.ID, "00000000-0000-0000-0000-000000000001"},
		{"malformed link id", ada.ID, "x"},
		{"malformed user id", "x", a1.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.Link(t.Context(), tc.userID, tc.linkID)
			wantCode(t, err, pulse.ENOTFOUND)
			wantCode(t, db.DeleteLink(t.Context(), tc.userID, tc.linkID), pulse.ENOTFOUND)
		})
	}
	if err := db.DeleteLink(t.Context(), ada.ID, a1.ID); err != nil {
		t.Fatalf("DeleteLink: %v", err)
	}
	_, err = db.LinkByID(t.Context(), a1.ID)
	wantCode(t, err, pulse.ENOTFOUND)
	if _, err := db.LinkByID(t.Context(), b1.ID); err != nil {
		t.Fatalf("other user's link gone: %v", err)
	}
}

func TestMarkLinkStatus(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	clock := newFakeClock()
	db.now = clock.now
	u := mustCreateUser(t, db, "ada@example.com")
	l := mustUpsertLink(t, db, u.ID, topics.Facebook, "1")

	clock.advance(time.Minute)
	if err := db.MarkLinkStatus(t.Context(), l.ID, pulse.LinkNeedsReauth, "401 from platform"); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Minute)
	if err := db.MarkLinkStatus(t.Context(), l.ID, pulse.LinkNeedsReauth, "401 again"); err != nil {
		t.Fatal(err)
	}
	got, err := db.LinkByID(t.Context(), l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != pulse.LinkNeedsReauth || got.StatusReason != "401 again" ||
		!got.StatusAt.Equal(l.StatusAt.Add(time.Minute)) {
		t.Fatalf("after MarkLinkStatus: %+v (created %v)", got, l.StatusAt)
	}
	wantCode(t, db.MarkLinkStatus(t.Context(), l.ID, "paused", ""), pulse.EINVALID)
	wantCode(t, db.MarkLinkStatus(t.Context(), "00000000-0000-0000-0000-000000000001", pulse.LinkRevoked, ""), pulse.ENOTFOUND)
}

func TestConcurrentRelinkKeepsOneDecryptableRow(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "ada@example.com")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			tok := &oauth2.Token{AccessToken: fmt.Sprintf("access-%d", i), RefreshToken: fmt.Sprintf("refresh-%d", i)}
			if _, err := db.UpsertLink(t.Context(), u.ID, topics.X, "1001", "@ada", tok, ""); err != nil {
				t.Errorf("UpsertLink: %v", err)
			}
		})
	}
	wg.Wait()
	links, err := db.Links(t.Context(), u.ID)
	if err != nil || len(links) != 1 {
		t.Fatalf("Links = %+v, %v; want one link", links, err)
	}
	tok, _, err := db.LinkToken(t.Context(), links[0].ID)
	if err != nil {
		t.Fatalf("LinkToken: %v", err)
	}
	// Access and refresh token come from the same upsert.
	if strings.TrimPrefix(tok.AccessToken, "access-") != strings.TrimPrefix(tok.RefreshToken, "refresh-") {
		t.Fatalf("token mixes upserts: %+v", tok)
	}
}
