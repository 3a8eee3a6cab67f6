package postgres

import (
	"testing"

	"github.com/pulsehq/pulse"
)

// TestSignUpIsVerifiedByItsTokenOnce: a sign-up creates no user until its
// token is verified, once; a newer sign-up of the address replaces the
// pending one; an expired token fails.
func TestSignUpIsVerifiedByItsTokenOnce(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	clock := newFakeClock()
	db.now = clock.now
	ctx := t.Context()

	first, err := db.RequestSignUp(ctx, " ada@example.com ", testPassword)
	if err != nil || first.Registered || first.Token == "" || first.Email != "ada@example.com" {
		t.Fatalf("RequestSignUp = %+v, %v", first, err)
	}
	if _, err := db.Authenticate(ctx, "ada@example.com", testPassword); pulse.ErrorCode(err) != pulse.EUNAUTHORIZED {
		t.Fatalf("Authenticate before verification: %v", err)
	}
	second, err := db.RequestSignUp(ctx, "Ada@example.com", "another good password")
	if err != nil || second.Token == "" || second.Token == first.Token {
		t.Fatalf("second RequestSignUp = %+v, %v", second, err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM signups"); n != 1 {
		t.Fatalf("%d pending sign-ups, want the newest only", n)
	}
	_, err = db.VerifySignUp(ctx, first.Token)
	wantCode(t, err, pulse.ENOTFOUND)
	u, err := db.VerifySignUp(ctx, second.Token)
	if err != nil || u.Email != "Ada@example.com" || u.ID == "" {
		t.Fatalf("VerifySignUp = %+v, %v", u, err)
	}
	if _, err := db.Authenticate(ctx, "ada@example.com", "another good password"); err != nil {
		t.Fatalf("Authenticate with the verified sign-up's password: %v", err)
	}
	_, err = db.VerifySignUp(ctx, second.Token)
	wantCode(t, err, pulse.ENOTFOUND)
	for _, tok := range []string{"", "not base64!", "AAAA"} {
		_, err = db.VerifySignUp(ctx, tok)
		wantCode(t, err, pulse.ENOTFOUND)
	}

	late, err := db.RequestSignUp(ctx, "bob@example.com", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	clock.advance(pulse.SignUpVerificationTTL)
	_, err = db.VerifySignUp(ctx, late.Token)
	wantCode(t, err, pulse.ENOTFOUND)
	if n, err := db.DeleteExpired(ctx, clock.now()); err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want bob's expired sign-up", n, err)
	}

	_, err = db.RequestSignUp(ctx, "carol@example.com", "short")
	wantCode(t, err, pulse.EINVALID)
	_, err = db.RequestSignUp(ctx, "carol", testPassword)
	wantCode(t, err, pulse.EINVALID)
}

// TestSignUpOfARegisteredAddressStoresNothingButHashes: a registered
// address (any letter case) gets Registered and no token, nothing is
// stored, and the password is hashed all the same, so the answer takes as
// long as a fresh sign-up's.
func TestSignUpOfARegisteredAddressStoresNothingButHashes(t *testing.T) {
	db := mustOpenTest(t) // not parallel: counts hashes
	ctx := t.Context()
	mustCreateUser(t, db, "ada@example.com")
	before := hashesComputed.Load()
	s, err := db.RequestSignUp(ctx, "ADA@example.com", "an attacker's password")
	if err != nil || !s.Registered || s.Token != "" {
		t.Fatalf("RequestSignUp of a registered address = %+v, %v", s, err)
	}
	if n := hashesComputed.Load() - before; n != 1 {
		t.Fatalf("%d password hashes for a registered address, want 1", n)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM signups"); n != 0 {
		t.Fatalf("%d pending sign-ups stored for a registered address", n)
	}
	before = hashesComputed.Load()
	if s, err := db.RequestSignUp(ctx, "bob@example.com", testPassword); err != nil || s.Registered || s.Token == "" {
		t.Fatalf("RequestSignUp of a fresh address = %+v, %v", s, err)
	}
	if n := hashesComputed.Load() - before; n != 1 {
		t.Fatalf("%d password hashes for a fresh address, want 1", n)
	}
}
