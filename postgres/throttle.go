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
// (case and surrounding space ignored) from any network, the address from
// its client network, and the client network alone.
func attemptKeys(a pulse.LoginAttempt) (account, accountNet, client []byte) {
	email := strings.ToLower(strings.TrimSpace(a.Email))
	return loginKey("account-any", email), loginKey("account", email, a.Client), loginKey("client", a.Client)
}

// AdmitLogin decides whether a sign-in for email from client (a client
// network as the caller identifies it, e.g. an IPv4 address or an IPv6 /64)
// may proceed under lim. If it may, it records the attempt, which counts as
// a failure until LoginSucceeded, and returns it with a zero retryAfter.
// Otherwise it records nothing and returns how long until an attempt would
// be admitted (positive).
//
// An attempt is refused while its network has PerClient attempts within
// Window, and while the account's delay (lim.Delay of its failures from
// every network within Window, counted from its last failure) runs, if
// this network has failed on the account within Window: a network that
// has not been failing on it is not held up by failures elsewhere.
//
// The decision depends only on the email address as typed (case and
// surrounding space ignored) and client, never on whether an account
// exists, so refusals reveal nothing about accounts. Check and record are
// one serialized step per key (transaction-scoped advisory locks), so
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
	accountKey, accountNetKey, clientKey := attemptKeys(a)
	keys := [][]byte{accountKey, accountNetKey, clientKey}
	now := db.now()
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		if err := lockKeys(ctx, tx, keys...); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM login_attempts WHERE key = ANY($1) AND expires_at <= $2",
			keys, now); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT key, at, expires_at FROM login_attempts
			WHERE key = ANY($1) ORDER BY expires_at`, keys)
		if err != nil {
			return err
		}
		var (
			key                   []byte
			at, exp, lastFailure  time.Time
			failures, netFailures int
			clientExpiries        []time.Time
		)
		if _, err := pgx.ForEachRow(rows, []any{&key, &at, &exp}, func() error {
			switch {
			case bytes.Equal(key, accountKey):
				failures++
				if at.After(lastFailure) {
					lastFailure = at
				}
			case bytes.Equal(key, accountNetKey):
				netFailures++
			case bytes.Equal(key, clientKey):
				clientExpiries = append(clientExpiries, exp)
			}
			return nil
		}); err != nil {
			return err
		}
		// At the network's limit, an attempt is admitted again once enough
		// of the oldest have expired to bring the count below it.
		if n := len(clientExpiries); n >= lim.PerClient {
			retryAfter = clientExpiries[n-lim.PerClient].Sub(now)
		}
		if d := lim.Delay(failures); d > 0 && netFailures > 0 {
			retryAfter = max(retryAfter, lastFailure.Add(d).Sub(now))
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

// lockKeys takes the advisory locks of keys, in a fixed order so that
// concurrent callers cannot deadlock.
func lockKeys(ctx context.Context, tx pgx.Tx, keys ...[]byte) error {
	locks := make([]int64, len(keys))
	for i, k := range keys {
		locks[i] = advisoryKey(k)
	}
	slices.Sort(locks)
	for _, k := range slices.Compact(locks) {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", k); err != nil {
			return err
		}
	}
	return nil
}

// advisoryKey maps a throttle key to a pg_advisory_xact_lock key.
// Collisions only serialize unrelated attempts.
func advisoryKey(key []byte) int64 {
	return int64(binary.BigEndian.Uint64(key[:8]))
}

// LoginSucceeded forgets the failures of a successful attempt's email
// address from its client network (the attempt included), in the
// account's count too, so that network is no longer held up by the
// account's delay; failures from other networks keep counting. On the
// network's own count only the attempt itself stops counting. A zero
// LoginAttempt is ignored.
func (db *DB) LoginSucceeded(ctx context.Context, a pulse.LoginAttempt) error {
	const op = "postgres.LoginSucceeded"
	if a.ID == "" {
		return nil
	}
	accountKey, accountNetKey, clientKey := attemptKeys(a)
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, `DELETE FROM login_attempts
			WHERE key = $2
				OR (key = $1 AND attempt_id IN (SELECT attempt_id FROM login_attempts WHERE key = $2))
				OR (key = $3 AND attempt_id = $4)`, accountKey, accountNetKey, clientKey, a.ID)
		return err
	})
	return translate(op, err)
}

// AdmitAttempt counts an attempt under key (any string naming what is
// limited, e.g. sign-ups from one network), at most limit in any window:
// it records the attempt and returns 0, or records nothing and returns how
// long until one would be admitted. Keys share the sign-in throttle's table
// (hashed, apart from sign-in keys) and its serialization, so the limit
// holds across API replicas. It returns an EINVALID error unless limit and
// window are positive.
func (db *DB) AdmitAttempt(ctx context.Context, key string, limit int, window time.Duration) (time.Duration, error) {
	const op = "postgres.AdmitAttempt"
	if limit < 1 || window <= 0 {
		return 0, errorf(pulse.EINVALID, op, "need a positive limit and window, got %d in %v", limit, window)
	}
	k := loginKey("counter", key)
	now := db.now()
	var retryAfter time.Duration
	err := db.withTx(ctx, func(tx pgx.Tx) error {
		if err := lockKeys(ctx, tx, k); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM login_attempts WHERE key = $1 AND expires_at <= $2", k, now); err != nil {
			return err
		}
		var oldest time.Time
		var n int
		err := tx.QueryRow(ctx, `SELECT count(*), COALESCE((SELECT expires_at FROM login_attempts WHERE key = $1
				ORDER BY expires_at DESC OFFSET $2 - 1 LIMIT 1), $3)
			FROM login_attempts WHERE key = $1`, k, limit, now).Scan(&n, &oldest)
		if err != nil {
			return err
		}
		if n >= limit {
			retryAfter = oldest.Sub(now)
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO login_attempts (key, attempt_id, at, expires_at) VALUES ($1, $2, $3, $4)`,
			k, uuid.NewString(), now, now.Add(window))
		return err
	})
	if err != nil {
		return 0, translate(op, err)
	}
	return retryAfter, nil
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
