package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse"
)

// ClaimExpiringLinks claims up to limit active links whose access token
// expires at or before before (already expired ones included), soonest
// first, for the token refresher, and returns them. A claimed link is not
// returned again until lease has passed since now or a new token is stored
// for it (UpdateLinkToken, UpsertLink), so several refresher replicas never
// renew the same token at once: with platforms that rotate refresh tokens,
// the loser of such a race would be rejected. Links without a known expiry
// are never returned.
//
// It returns an EINVALID error if limit < 1 or lease <= 0.
func (db *DB) ClaimExpiringLinks(ctx context.Context, before, now time.Time, limit int, lease time.Duration) ([]pulse.Link, error) {
	const op = "postgres.ClaimExpiringLinks"
	switch {
	case limit < 1:
		return nil, errorf(pulse.EINVALID, op, "limit must be positive, got %d", limit)
	case lease <= 0:
		return nil, errorf(pulse.EINVALID, op, "lease must be positive, got %v", lease)
	}
	var links []pulse.Link
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `WITH due AS (
				SELECT id FROM links
				WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= $1
					AND (refresh_claimed_until IS NULL OR refresh_claimed_until <= $2)
				ORDER BY expires_at, id
				LIMIT $3
				FOR UPDATE SKIP LOCKED
			)
			UPDATE links AS l SET refresh_claimed_until = $4
			FROM due
			WHERE l.id = due.id
			RETURNING `+linkColumns, before, now, limit, now.Add(lease))
		if err != nil {
			return err
		}
		links, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (pulse.Link, error) {
			return scanLink(row)
		})
		return err
	})
	if err != nil {
		return nil, translate(op, err)
	}
	slices.SortFunc(links, func(a, b pulse.Link) int {
		return cmp.Or(a.ExpiresAt.Compare(b.ExpiresAt), cmp.Compare(a.ID, b.ID))
	})
	return links, nil
}

// MarkLinkStatusIfUnchanged is MarkLinkStatus on the condition that the
// link was not updated since the caller read it: its UpdatedAt still
// equals updatedAt. It reports whether it changed the link. A caller that
// decides from a token it read (e.g. "this token was rejected") uses it so
// that a token stored meanwhile (a relink, or a refresh by another
// component) is not condemned by the old one's failure.
//
// It returns an EINVALID error for an unknown status and an ENOTFOUND error if
// the link does not exist.
func (db *DB) MarkLinkStatusIfUnchanged(ctx context.Context, linkID string, updatedAt time.Time, status pulse.LinkStatus, reason string) (bool, error) {
	const op = "postgres.MarkLinkStatusIfUnchanged"
	if !status.Valid() {
		return false, errorf(pulse.EINVALID, op, "unknown link status %q", status)
	}
	lid, err := parseID(linkID, "link")
	if err != nil {
		return false, translate(op, err)
	}
	var changed bool
	err = db.withConn(ctx, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, `UPDATE links AS l SET
				status = $2,
				status_reason = $3,
				status_at = CASE WHEN l.status = $2 THEN l.status_at ELSE $4 END,
				updated_at = $4
			WHERE l.id = $1 AND l.updated_at = $5`, lid, string(status), reason, db.now(), updatedAt)
		if err != nil {
			return err
		}
		if changed = tag.RowsAffected() == 1; changed {
			return nil
		}
		var exists bool
		if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM links WHERE id = $1)", lid).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return pgx.ErrNoRows
		}
		return nil
	})
	if err != nil {
		return false, translateLink(op, err)
	}
	return changed, nil
}
