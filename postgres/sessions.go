package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse"
)

const (
	// sessionTokenBytes is the entropy of a session token.
	sessionTokenBytes = 32
	// lastSeenGranularity limits last_seen_at writes to one per session per
	// interval, so that authenticating a request is usually a pure read.
	lastSeenGranularity = time.Minute
)

var errNoSession = errors.New("session is invalid or expired")

// CreateSession starts a session for the user lasting ttl and returns its
// bearer token: 32 random bytes, base64url-encoded without padding. Only the
// token's SHA-256 is stored, so a database leak does not reveal live tokens.
//
// It returns an EINVALID error if ttl is not positive and an ENOTFOUND error if
// the user does not exist.
func (db *DB) CreateSession(ctx context.Context, userID string, ttl time.Duration) (string, error) {
	const op = "postgres.CreateSession"
	if ttl <= 0 {
		return "", errorf(pulse.EINVALID, op, "session ttl must be positive, got %v", ttl)
	}
	uid, err := parseID(userID, "user")
	if err != nil {
		return "", translate(op, err)
	}
	raw := make([]byte, sessionTokenBytes)
	rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	id := sha256.Sum256(raw)
	now := db.now()
	err = db.withConn(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, `INSERT INTO sessions (id, user_id, created_at, expires_at, last_seen_at)
			VALUES ($1, $2, $3, $4, $3)`, id[:], uid, now, now.Add(ttl))
		return err
	})
	if err = translate(op, err); pulse.ErrorCode(err) == pulse.ENOTFOUND {
		return "", errorf(pulse.ENOTFOUND, op, "user not found")
	}
	if err != nil {
		return "", err
	}
	return token, nil
}

// SessionUser returns the user owning the session identified by token. It
// returns an EUNAUTHORIZED error if the token is malformed, unknown or
// expired. It records the session's last use, at most once a minute.
func (db *DB) SessionUser(ctx context.Context, token string) (pulse.User, error) {
	s, err := db.session(ctx, "postgres.SessionUser", token)
	return s.User, err
}

// Session returns the session identified by token, with its user. Errors
// and bookkeeping are those of SessionUser.
func (db *DB) Session(ctx context.Context, token string) (pulse.Session, error) {
	return db.session(ctx, "postgres.Session", token)
}

func (db *DB) session(ctx context.Context, op, token string) (pulse.Session, error) {
	id, ok := sessionID(token)
	if !ok {
		return pulse.Session{}, &pulse.Error{Code: pulse.EUNAUTHORIZED, Op: op, Err: errNoSession}
	}
	now := db.now()
	var (
		s        pulse.Session
		lastSeen time.Time
	)
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		err := c.QueryRow(ctx, `SELECT u.id, u.email, u.created_at, s.expires_at, s.last_seen_at
			FROM sessions s JOIN users u ON u.id = s.user_id
			WHERE s.id = $1 AND s.expires_at > $2`, id, now).
			Scan(&s.User.ID, &s.User.Email, &s.User.CreatedAt, &s.ExpiresAt, &lastSeen)
		if err != nil || now.Sub(lastSeen) < lastSeenGranularity {
			return err
		}
		_, err = c.Exec(ctx, "UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2", id, now)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return pulse.Session{}, &pulse.Error{Code: pulse.EUNAUTHORIZED, Op: op, Err: errNoSession}
	}
	if err != nil {
		return pulse.Session{}, translate(op, err)
	}
	s.ID = hex.EncodeToString(id)
	s.User.CreatedAt, s.ExpiresAt = s.User.CreatedAt.UTC(), s.ExpiresAt.UTC()
	return s, nil
}

// parseSessionID decodes a pulse.Session.ID. A malformed id names no session.
func parseSessionID(id string) ([]byte, error) {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != sha256.Size {
		return nil, &pulse.Error{Code: pulse.EUNAUTHORIZED, Err: errNoSession}
	}
	return b, nil
}

// DeleteSession ends the session identified by token (logout). Unknown,
// expired and malformed tokens are not an error.
func (db *DB) DeleteSession(ctx context.Context, token string) error {
	const op = "postgres.DeleteSession"
	id, ok := sessionID(token)
	if !ok {
		return nil
	}
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, "DELETE FROM sessions WHERE id = $1", id)
		return err
	})
	return translate(op, err)
}

// DeleteUserSessions ends every session of userID (cookie and bearer, in
// every browser and client) and returns how many there were.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	const op = "postgres.DeleteUserSessions"
	var n int64
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, "DELETE FROM sessions WHERE user_id = $1", userID)
		n = tag.RowsAffected()
		return err
	})
	return int(n), translate(op, err)
}

// DeleteExpiredSessions deletes sessions that expired at or before now and
// returns how many. Run it periodically; expired sessions are already
// rejected by SessionUser, this only reclaims space.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	const op = "postgres.DeleteExpiredSessions"
	var n int64
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, "DELETE FROM sessions WHERE expires_at <= $1", now)
		n = tag.RowsAffected()
		return err
	})
	return int(n), translate(op, err)
}

// sessionID returns the stored id (SHA-256) of a well-formed token.
func sessionID(token string) ([]byte, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != sessionTokenBytes {
		return nil, false
	}
	id := sha256.Sum256(raw)
	return id[:], true
}
