package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse"
)

// loginKey derives a throttle key. Email addresses and networks are hashed
// so that the table never holds them.
func loginKey(parts ...string) []byte {
	h := sha256.New()
	h.Write([]byte("pulse/login-throttle/v1"))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

// attemptKeys returns the throttle keys of an attempt: its email address
// (case and surrounding space ignored) from its client network, and the
// client network alone.
func attemptKeys(a pulse.LoginAttempt) (account, client []byte) {
	return loginKey("account", strings.ToLower(strings.TrimSpace(a.Email)), a.Client),
		loginKey("client", a.Client)
}

// AdmitLogin decides whether a sign-in for email from client (a client
// network as the caller identifies it, e.g. an IPv4 address or an IPv6 /64)
// may proceed under lim. If it may, it records the attempt, which counts as
// a failure until LoginSucceeded, and returns it with a zero retryAfter.
// Otherwise it records nothing and returns how long until an attempt would
// be admitted (positive).
//
// The decision depends only on the email address as typed (case and
// surrounding space ignored) and client, never on whether an account
// exists, so refusals reveal nothing about accounts. Check and record are
// one serialized step per key (a transaction-scoped advisory lock), so
// concurrent attempts, on any number of API replicas, cannot exceed the
// limits.
//
// It returns an EINVALID error if lim is not valid.
func (db *DB) AdmitLogin(ctx context.Context, email, client string, lim pulse.LoginLimits) (a pulse.LoginAttempt, retryAfter time.Duration, err error) {
	const op = "postgres.AdmitLogin"
	if err := lim.Validate(); err != nil {
		return pulse.LoginAttempt{}, 0, translate(op, err)
	}
	a = pulse.LoginAttempt{ID: uuid.NewString(), Email: email, Client: client}
	accountKey, clientKey := attemptKeys(a)
	keys := [][]byte{accountKey, clientKey}
	limits := []int{lim.PerAccount, lim.PerClient}
	now := db.now()
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		// Lock in a fixed order so that concurrent callers cannot deadlock.
		locks := []int64{advisoryKey(accountKey), advisoryKey(clientKey)}
		slices.Sort(locks)
		for _, k := range locks {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", k); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM login_attempts WHERE key = ANY($1) AND expires_at <= $2",
			keys, now); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT key, expires_at FROM login_attempts
			WHERE key = ANY($1) ORDER BY expires_at`, keys)
		if err != nil {
			return err
		}
		expiries := make([][]time.Time, len(keys))
		var (
			key []byte
			exp time.Time
		)
		if _, err := pgx.ForEachRow(rows, []any{&key, &exp}, func() error {
			for i, k := range keys {
				if bytes.Equal(k, key) {
					expiries[i] = append(expiries[i], exp)
				}
			}
			return nil
		}); err != nil {
			return err
		}
		for i, exps := range expiries {
			// At the limit, an attempt is admitted again once enough of the
			// oldest have expired to bring the count below it.
			if n := len(exps); n >= limits[i] {
				retryAfter = max(retryAfter, exps[n-limits[i]].Sub(now))
			}
		}
		if retryAfter > 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO login_attempts (key, attempt_id, at, expires_at)
			SELECT k, $2, $3, $4 FROM unnest($1::bytea[]) AS k`, keys, a.ID, now, now.Add(lim.Window))
		return err
	})
	if err != nil {
		return pulse.LoginAttempt{}, 0, translate(op, err)
	}
	if retryAfter > 0 {
		return pulse.LoginAttempt{}, retryAfter, nil
	}
	return a, 0, nil
}

// advisoryKey maps a throttle key to a pg_advisory_xact_lock key.
// Collisions only serialize unrelated attempts.
func advisoryKey(key []byte) int64 {
	return int64(binary.BigEndian.Uint64(key[:8]))
}

// LoginSucceeded forgets the failures of a successful attempt's email
// address and client network (the attempt included): a user who signs in
// starts with a clean slate, while the attempt stops counting against the
// network. A zero LoginAttempt is ignored.
func (db *DB) LoginSucceeded(ctx context.Context, a pulse.LoginAttempt) error {
	const op = "postgres.LoginSucceeded"
	if a.ID == "" {
		return nil
	}
	accountKey, clientKey := attemptKeys(a)
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, `DELETE FROM login_attempts
			WHERE key = $1 OR (key = $2 AND attempt_id = $3)`, accountKey, clientKey, a.ID)
		return err
	})
	return translate(op, err)
}

// DeleteExpired deletes what expired at or before now: sessions, pending
// OAuth states, sign-in attempts, link grants and pending sign-ups, and returns how many rows it deleted.
// Expired rows are already ignored everywhere; run it periodically to
// reclaim space (the refresher does).
func (db *DB) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	const op = "postgres.DeleteExpired"
	var n int64
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		for _, table := range []string{"oauth_states", "sessions", "login_attempts", "link_grants", "signups"} {
			tag, err := c.Exec(ctx, "DELETE FROM "+table+" WHERE expires_at <= $1", now)
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		return nil
	})
	return int(n), translate(op, err)
}
