package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse"
)

var errBadSignUpToken = errors.New("the sign-up link is invalid, used or expired")

// RequestSignUp starts a sign-up for email with password, to be completed
// by VerifySignUp with the returned token within
// pulse.SignUpVerificationTTL.
//
// Its answer must not tell a caller whether email is registered, so both
// cases do the same work: the password is checked against the policy and
// hashed (argon2id) either way. For an unregistered address it stores the
// pending sign-up (only the token's SHA-256 and the password's hash),
// replacing any pending one for the same address, and returns its token;
// for a registered address (any letter case) it stores nothing and returns
// Registered set and no token. The caller mails the address either way.
//
// It returns an EINVALID error, as CreateUser does, for a bad address or a
// password that breaks the policy: these depend on the input only.
func (db *DB) RequestSignUp(ctx context.Context, email, password string) (pulse.SignUp, error) {
	const op = "postgres.RequestSignUp"
	email, hash, err := credentials(ctx, op, email, password)
	if err != nil {
		return pulse.SignUp{}, err
	}
	raw := make([]byte, sessionTokenBytes)
	rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	id, _ := sessionID(token)
	now := db.now()
	s := pulse.SignUp{Email: email}
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		// Serialize sign-ups of one address (two at once would both insert).
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)",
			advisoryKey(loginKey("signup", strings.ToLower(email)))); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1))",
			email).Scan(&s.Registered); err != nil || s.Registered {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM signups WHERE lower(email) = lower($1)", email); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO signups (token_hash, email, password_hash, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5)`, id, email, hash, now, now.Add(pulse.SignUpVerificationTTL))
		return err
	})
	if err != nil {
		return pulse.SignUp{}, translate(op, err)
	}
	if !s.Registered {
		s.Token = token
	}
	return s, nil
}

// VerifySignUp completes the pending sign-up of token: it creates the user
// with the address and password hash the sign-up stored, once (the token
// stops working). It returns an ENOTFOUND error for a malformed, unknown,
// used or expired token, and an ECONFLICT error if the address was
// registered meanwhile.
func (db *DB) VerifySignUp(ctx context.Context, token string) (pulse.User, error) {
	const op = "postgres.VerifySignUp"
	id, ok := sessionID(token)
	if !ok {
		return pulse.User{}, &pulse.Error{Code: pulse.ENOTFOUND, Op: op, Err: errBadSignUpToken}
	}
	now := db.now()
	u := pulse.User{ID: uuid.NewString(), CreatedAt: now}
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		var hash string
		err := tx.QueryRow(ctx, `DELETE FROM signups WHERE token_hash = $1 AND expires_at > $2
			RETURNING email, password_hash`, id, now).Scan(&u.Email, &hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return &pulse.Error{Code: pulse.ENOTFOUND, Err: errBadSignUpToken}
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx,
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
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}
