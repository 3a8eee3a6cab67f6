package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse"
)

const (
	// PurgeClaimLease is how long a purge request handed out (by DeleteUser
	// or ClaimPurges) stays with its claimer before ClaimPurges hands it
	// out again.
	PurgeClaimLease = time.Minute
	// PurgeRepeatDelay is the wait between a user's first successful purge
	// and the second, which removes analytics rows that were still in the
	// pipeline (fetched, not yet stored) when the user was deleted.
	PurgeRepeatDelay = time.Hour
	// maxPurgeError bounds PurgeRequest.LastError.
	maxPurgeError = 1000
)

// ClaimPurges hands out up to limit purge requests due at now, oldest
// first, and pushes each one's next attempt out by lease, so another
// claimer (a refresher replica) skips it until the lease runs out. Report
// the outcome with PurgeDone or PurgeFailed; an unreported claim is handed
// out again after the lease. It returns an EINVALID error if limit < 1 or
// lease <= 0.
func (db *DB) ClaimPurges(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]pulse.PurgeRequest, error) {
	const op = "postgres.ClaimPurges"
	switch {
	case limit < 1:
		return nil, errorf(pulse.EINVALID, op, "limit must be positive, got %d", limit)
	case lease <= 0:
		return nil, errorf(pulse.EINVALID, op, "lease must be positive, got %v", lease)
	}
	var out []pulse.PurgeRequest
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `WITH due AS (
				SELECT user_id FROM purge_requests WHERE next_attempt_at <= $1
				ORDER BY next_attempt_at, user_id LIMIT $2
				FOR UPDATE SKIP LOCKED
			)
			UPDATE purge_requests AS p SET next_attempt_at = $3, attempts = p.attempts + 1
			FROM due WHERE p.user_id = due.user_id
			RETURNING p.user_id, p.link_ids::text[], p.requested_at, p.attempts, p.last_error`, now, limit, now.Add(lease))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (pulse.PurgeRequest, error) {
			var p pulse.PurgeRequest
			err := row.Scan(&p.UserID, &p.LinkIDs, &p.RequestedAt, &p.Attempts, &p.LastError)
			p.RequestedAt = p.RequestedAt.UTC()
			return p, err
		})
		return err
	})
	return out, translate(op, err)
}

// PurgeDone records a successful purge of the user's analytics rows. The
// first success schedules the second and last pass PurgeRepeatDelay later;
// the second removes the request. Reporting an unknown user is not an
// error.
func (db *DB) PurgeDone(ctx context.Context, userID string) error {
	const op = "postgres.PurgeDone"
	uid, err := parseID(userID, "user")
	if err != nil {
		return translate(op, err)
	}
	now := db.now()
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM purge_requests WHERE user_id = $1 AND passes_left <= 1", uid); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE purge_requests SET passes_left = passes_left - 1,
				next_attempt_at = $2, last_error = ''
			WHERE user_id = $1`, uid, now.Add(PurgeRepeatDelay))
		return err
	})
	return translate(op, err)
}

// PurgeFailed records why a claimed purge failed (shown to operators; it
// must not contain secrets). The request is retried once its claim's lease
// runs out. Reporting an unknown user is not an error.
func (db *DB) PurgeFailed(ctx context.Context, userID, reason string) error {
	const op = "postgres.PurgeFailed"
	uid, err := parseID(userID, "user")
	if err != nil {
		return translate(op, err)
	}
	if len(reason) > maxPurgeError {
		reason = strings.ToValidUTF8(reason[:maxPurgeError], "")
	}
	err = db.withConn(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, "UPDATE purge_requests SET last_error = $2 WHERE user_id = $1", uid, reason)
		return err
	})
	return translate(op, err)
}
