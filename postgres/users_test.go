package postgres

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse"
)

func TestCreateUser(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "Ada@Example.com")
	if u.ID == "" || u.Email != "Ada@Example.com" || u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser = %+v", u)
	}
	hash := queryString(t, db, "SELECT password_hash FROM users WHERE id = $1", u.ID)
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(hash, testPassword) {
		t.Fatalf("stored password hash = %q", hash)
	}

	for _, tc := range []struct {
		name, email, password, code string
	}{
		{"duplicate email", "Ada@Example.com", testPassword, pulse.ECONFLICT},
		{"duplicate email other case", "ada@EXAMPLE.COM", testPassword, pulse.ECONFLICT},
		{"duplicate email with spaces", "  ada@example.com ", testPassword, pulse.ECONFLICT},
		{"short password", "bob@example.com", "123456789", pulse.EINVALID},
		{"short multibyte password", "bob@example.com", "ééééééééé", pulse.EINVALID},
		{"password is email", "bob@example.com", "Bob@Example.com", pulse.EINVALID},
		{"password too long", "bob@example.com", strings.Repeat("x", MaxPasswordLen+1), pulse.EINVALID},
		{"empty email", "", testPassword, pulse.EINVALID},
		{"no at sign", "bob.example.com", testPassword, pulse.EINVALID},
		{"display name", "Bob <bob@example.com>", testPassword, pulse.EINVALID},
		{"email too long", strings.Repeat("b", 250) + "@x.io", testPassword, pulse.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.CreateUser(t.Context(), tc.email, tc.password)
			wantCode(t, err, tc.code)
		})
	}
	if n := queryInt(t, db, "SELECT count(*) FROM users"); n != 1 {
		t.Fatalf("users has %d rows, want 1", n)
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "ada@example.com")

	got, err := db.Authenticate(t.Context(), " ADA@example.com", testPassword)
	if err != nil || got != u {
		t.Fatalf("Authenticate = %+v, %v; want %+v", got, err, u)
	}

	var errs []error
	for _, tc := range []struct{ name, email, password string }{
		{"wrong password", "ada@example.com", testPassword + "!"},
		{"unknown email", "nobody@example.com", testPassword},
		{"empty password", "ada@example.com", ""},
		{"overlong password", "ada@example.com", strings.Repeat("x", MaxPasswordLen+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.Authenticate(t.Context(), tc.email, tc.password)
			wantCode(t, err, pulse.EUNAUTHORIZED)
			errs = append(errs, err)
		})
	}
	for _, err := range errs[1:] {
		if err.Error() != errs[0].Error() {
			t.Fatalf("Authenticate errors differ: %q vs %q", err, errs[0])
		}
	}
}

func TestDummyHashMatchesParameters(t *testing.T) {
	h, err := parsePHC(dummyHash)
	if err != nil {
		t.Fatal(err)
	}
	if h.memory != argonMemory || h.time != argonTime || h.threads != argonThreads || len(h.key) != argonKeyLen {
		t.Fatalf("dummyHash parameters %+v differ from the current ones", h)
	}
}

func TestParsePHCRejects(t *testing.T) {
	for _, phc := range []string{
		"",
		"$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ",
	} {
		if _, err := parsePHC(phc); err == nil {
			t.Errorf("parsePHC(%q) succeeded", phc)
		}
	}
}

func TestUserAndDeleteUser(t *testing.T) {
	t.Parallel()
	db := mustOpenTest(t)
	u := mustCreateUser(t, db, "ada@example.com")
	other := mustCreateUser(t, db, "bob@example.com")
	l := mustUpsertLink(t, db, u.ID, "x", "1001")
	mustUpsertLink(t, db, other.ID, "x", "2002")
	if _, err := db.CreateSession(t.Context(), u.ID, time.Hour); err != nil {
		t.Fatal(err)
	}

	got, err := db.User(t.Context(), u.ID)
	if err != nil || got != u {
		t.Fatalf("pulse.User = %+v, %v; want %+v", got, err, u)
	}
	for _, id := range []string{"", "not-a-uuid", "00000000-0000-0000-0000-000000000000"} {
		_, err := db.User(t.Context(), id)
		wantCode(t, err, pulse.ENOTFOUND)
	}

	// Keep the ciphertext, as a stale copy (replica, WAL archive) would.
	var access []byte
	err = db.withConn(t.Context(), func(c *pgx.Conn) error {
		return c.QueryRow(t.Context(), "SELECT access_token_enc FROM links WHERE id = $1", l.ID).Scan(&access)
	})
	if err != nil {
		t.Fatal(err)
	}

	req, err := db.DeleteUser(t.Context(), u.ID)
	if err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	// The purge request names the user's links, the keys of their rows in
	// the processors' tables, now that the links are gone; and so does it
	// when claimed again.
	if req.UserID != u.ID || !slices.Equal(req.LinkIDs, []string{l.ID}) {
		t.Fatalf("purge request = %+v, want user %s, links [%s]", req, u.ID, l.ID)
	}
	claimed, err := db.ClaimPurges(t.Context(), time.Now().Add(PurgeClaimLease+time.Minute), 10, time.Minute)
	if err != nil || len(claimed) != 1 || !slices.Equal(claimed[0].LinkIDs, []string{l.ID}) {
		t.Fatalf("claimed purges = %+v, %v; want one naming link %s", claimed, err, l.ID)
	}
	_, err = db.DeleteUser(t.Context(), u.ID)
	wantCode(t, err, pulse.ENOTFOUND)
	for table, col := range map[string]string{"users": "id", "data_keys": "user_id", "links": "user_id", "sessions": "user_id"} {
		if n := queryInt(t, db, "SELECT count(*) FROM "+table+" WHERE "+col+" = $1", u.ID); n != 0 {
			t.Errorf("%s still has %d rows of the deleted user", table, n)
		}
	}
	_, err = db.User(t.Context(), u.ID)
	wantCode(t, err, pulse.ENOTFOUND)
	_, _, err = db.LinkToken(t.Context(), l.ID)
	wantCode(t, err, pulse.ENOTFOUND)
	// The other user is untouched.
	if n := queryInt(t, db, "SELECT count(*) FROM data_keys"); n != 1 {
		t.Fatalf("data_keys has %d rows, want the other user's 1", n)
	}

	// Crypto-shredding: restore the user's link row from the stale copy.
	// With the data key gone, the ciphertext cannot be decrypted, not even
	// once a new data key has been created for the same user id.
	exec(t, db, "INSERT INTO users (id, email, password_hash) VALUES ($1, 'ada@example.com', $2)", u.ID, dummyHash)
	mustUpsertLink(t, db, u.ID, "x", "3003") // creates a fresh data key
	exec(t, db, `INSERT INTO links (id, user_id, platform, account_id, access_token_enc)
		VALUES ($1, $2, 'x', '1001', $3)`, l.ID, u.ID, access)
	_, _, err = db.LinkToken(t.Context(), l.ID)
	wantCode(t, err, pulse.EINTERNAL)
}
