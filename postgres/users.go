package postgres

import (
	"context"
	"errors"
	"net/mail"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse"
)

// errBadCredentials is the single cause Authenticate reports, whether the
// email is unknown or the password wrong.
var errBadCredentials = errors.New("invalid email or password")

// CreateUser registers a user with email and password, storing only the
// password's argon2id hash.
//
// It returns an EINVALID error if email is not a plain address (a@b.c, at most
// 254 bytes; surrounding spaces are trimmed) or the password breaks the
// policy (at least MinPasswordLen characters, at most MaxPasswordLen bytes,
// not the email address), and an ECONFLICT error if the email is already
// registered in any letter case.
func (db *DB) CreateUser(ctx context.Context, email, password string) (pulse.User, error) {
	const op = "postgres.CreateUser"
	email, hash, err := credentials(ctx, op, email, password)
	if err != nil {
		return pulse.User{}, err
	}
	u := pulse.User{ID: uuid.NewString(), Email: email, CreatedAt: db.now()}
	err = db.withConn(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx,
			"INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
			u.ID, u.Email, hash, u.CreatedAt)
		return err
	})
	if err = translate(op, err); pulse.ErrorCode(err) == pulse.ECONFLICT {
		return pulse.User{}, errorf(pulse.ECONFLICT, op, "email address is already registered")
	}
	if err != nil {
		return pulse.User{}, err
	}
	return u, nil
}

// credentials checks a new account's email address and password and
// returns the normalized address and the password's argon2id hash: an
// EINVALID error (with op) for a bad address or a password that breaks the
// policy, before any hashing.
func credentials(ctx context.Context, op, email, password string) (string, string, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return "", "", &pulse.Error{Code: pulse.EINVALID, Op: op, Err: err}
	}
	if err := validatePassword(email, password); err != nil {
		return "", "", &pulse.Error{Code: pulse.EINVALID, Op: op, Err: err}
	}
	hash, err := hashPassword(ctx, password)
	if err != nil {
		return "", "", translate(op, err)
	}
	return email, hash, nil
}

// normalizeEmail trims email and checks it is a bare address.
func normalizeEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	if len(email) > 254 {
		return "", errors.New("email address is too long")
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return "", errors.New("invalid email address")
	}
	return email, nil
}

// Authenticate returns the user with the given email (case-insensitive) if
// password is theirs. An unknown email and a wrong password produce the same
// EUNAUTHORIZED error, and take about the same time: for an unknown email a
// dummy hash is verified.
func (db *DB) Authenticate(ctx context.Context, email, password string) (pulse.User, error) {
	const op = "postgres.Authenticate"
	var (
		u    pulse.User
		hash string
	)
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx,
			"SELECT id, email, created_at, password_hash FROM users WHERE lower(email) = lower($1)",
			strings.TrimSpace(email)).Scan(&u.ID, &u.Email, &u.CreatedAt, &hash)
	})
	found := err == nil
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		hash = dummyHash
	case err != nil:
		return pulse.User{}, translate(op, err)
	}
	if len(password) > MaxPasswordLen {
		// Such a password was never accepted; spend the same effort anyway.
		found, password = false, password[:MaxPasswordLen]
	}
	ok, err := verifyPassword(ctx, hash, password)
	if err != nil {
		return pulse.User{}, errorf(pulse.EINTERNAL, op, "verify password of user %s: %w", u.ID, err)
	}
	if !found || !ok {
		return pulse.User{}, &pulse.Error{Code: pulse.EUNAUTHORIZED, Op: op, Err: errBadCredentials}
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

// User returns the user with the given id, or an ENOTFOUND error.
func (db *DB) User(ctx context.Context, id string) (pulse.User, error) {
	const op = "postgres.User"
	uid, err := parseID(id, "user")
	if err != nil {
		return pulse.User{}, translate(op, err)
	}
	var u pulse.User
	err = db.withConn(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT id, email, created_at FROM users WHERE id = $1", uid).
			Scan(&u.ID, &u.Email, &u.CreatedAt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return pulse.User{}, errorf(pulse.ENOTFOUND, op, "user not found")
	}
	if err != nil {
		return pulse.User{}, translate(op, err)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

// DeleteUser deletes the user and everything they own: their data key
// first, then sessions, pending link requests and linked accounts.
// Deleting the data key crypto-shreds the user's token ciphertexts: copies
// that outlive the rows (WAL archives, lagging replicas, dumps) cannot be
// decrypted. Backups that contain the wrapped data key stay decryptable for
// as long as the master key that wrapped it is kept.
//
// In the same transaction it enqueues a purge request for the user's
// analytics rows, which live outside PostgreSQL, so the deletion cannot be
// half done, and returns it: the caller should purge them at once and
// report PurgeDone; if it does not within PurgeClaimLease, ClaimPurges
// hands the request out again (the refresher retries it). The request
// keeps the ids of the user's links (its LinkIDs), which the processors'
// tables are keyed by. It returns an ENOTFOUND error if the user does not
// exist.
func (db *DB) DeleteUser(ctx context.Context, id string) (pulse.PurgeRequest, error) {
	const op = "postgres.DeleteUser"
	uid, err := parseID(id, "user")
	if err != nil {
		return pulse.PurgeRequest{}, translate(op, err)
	}
	now := db.now()
	req := pulse.PurgeRequest{UserID: uid}
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		// The user's row lock first, so no link is added meanwhile.
		var found bool
		if err := tx.QueryRow(ctx, "SELECT true FROM users WHERE id = $1 FOR UPDATE", uid).Scan(&found); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return &pulse.Error{Code: pulse.ENOTFOUND, Err: errors.New("user not found")}
			}
			return err
		}
		// The request, with the links, before the cascade deletes them. A
		// request still pending from an earlier deletion keeps its links.
		if err := tx.QueryRow(ctx, `INSERT INTO purge_requests (user_id, requested_at, next_attempt_at, link_ids)
			VALUES ($1, $2, $3, ARRAY(SELECT id FROM links WHERE user_id = $1 ORDER BY id))
			ON CONFLICT (user_id) DO UPDATE SET next_attempt_at = $3, passes_left = 2,
				link_ids = ARRAY(SELECT DISTINCT unnest(purge_requests.link_ids || excluded.link_ids) ORDER BY 1)
			RETURNING requested_at, link_ids::text[]`,
			uid, now, now.Add(PurgeClaimLease)).Scan(&req.RequestedAt, &req.LinkIDs); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM data_keys WHERE user_id = $1", uid); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM users WHERE id = $1", uid)
		return err
	})
	if err != nil {
		return pulse.PurgeRequest{}, translate(op, err)
	}
	req.RequestedAt = req.RequestedAt.UTC()
	return req, nil
}

// parseID parses a UUID and returns it in canonical form. A malformed id
// names nothing, so it yields an ENOTFOUND error mentioning what.
func parseID(id, what string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", &pulse.Error{Code: pulse.ENOTFOUND, Err: errors.New(what + " not found")}
	}
	return u.String(), nil
}
