package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// refreshDebounce is how long after a refresh request RequestRefresh
// ignores further requests for the same link.
const refreshDebounce = time.Minute

// ClaimDueLinks claims up to limit active links of platform whose next fetch
// is due at now (next_fetch_at <= now), most overdue first, and returns
// them. Claiming moves a link's next fetch to now+lease, so it is not due
// again until the lease runs out; the caller emits each claimed link and
// then calls MarkScheduled with its real next fetch time. A link whose
// claimer dies before MarkScheduled is thus retried after the lease.
//
// Selection and claim are one statement that skips rows locked by a
// concurrent claim, so concurrent callers (several scheduler replicas) never
// get the same link and do not wait for each other; a link may be claimed
// again only once its lease has passed (or RequestRefresh made it due).
//
// The returned links carry the NextFetchAt they had before the claim, and
// RefreshRequested as it was (MarkScheduled clears it). It returns an
// EINVALID error if limit < 1 or lease <= 0.
func (db *DB) ClaimDueLinks(ctx context.Context, platform topics.Platform, now time.Time, limit int, lease time.Duration) ([]pulse.Link, error) {
	const op = "postgres.ClaimDueLinks"
	switch {
	case limit < 1:
		return nil, errorf(pulse.EINVALID, op, "limit must be positive, got %d", limit)
	case lease <= 0:
		return nil, errorf(pulse.EINVALID, op, "lease must be positive, got %v", lease)
	}
	var links []pulse.Link
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `WITH due AS (
				SELECT id, next_fetch_at FROM links
				WHERE platform = $1 AND status = 'active' AND next_fetch_at <= $2
				ORDER BY next_fetch_at, id
				LIMIT $3
				FOR UPDATE SKIP LOCKED
			)
			UPDATE links AS l SET next_fetch_at = $4
			FROM due
			WHERE l.id = due.id
			RETURNING `+linkColumns+`, due.next_fetch_at`,
			string(platform), now, limit, now.Add(lease))
		if err != nil {
			return err
		}
		links, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (pulse.Link, error) {
			var due time.Time
			l, err := scanLink(row, &due)
			l.NextFetchAt = due.UTC()
			return l, err
		})
		return err
	})
	if err != nil {
		return nil, translate(op, err)
	}
	// UPDATE ... RETURNING does not keep the subquery's order.
	slices.SortFunc(links, func(a, b pulse.Link) int {
		return cmp.Or(a.NextFetchAt.Compare(b.NextFetchAt), cmp.Compare(a.ID, b.ID))
	})
	return links, nil
}

// MarkScheduled records that a fetch of the link was emitted: it sets the
// link's next fetch time to next (ending a ClaimDueLinks lease) and clears
// its refresh request (including one made while the link was claimed: the
// fetch just emitted serves it). It returns an ENOTFOUND error if the link
// does not exist.
func (db *DB) MarkScheduled(ctx context.Context, linkID string, next time.Time) error {
	const op = "postgres.MarkScheduled"
	return db.updateLink(ctx, op, linkID,
		"UPDATE links SET next_fetch_at = $2, refresh_requested_at = NULL WHERE id = $1", next)
}

// RequestRefresh asks for an early fetch of the user's link linkID, or of
// all the user's active links if linkID is "": each one becomes due now
// (its next fetch moves to now unless already earlier) and is flagged
// RefreshRequested until the scheduler emits it. The fetch still goes
// through the scheduler, so it counts against the platform's budget.
//
// Requests are debounced per link: a link already requested within the last
// minute is left alone. Links that are not active (needing
// re-authorization or revoked) are never queued. It returns how many links
// this call queued, which may be 0.
//
// It returns an ENOTFOUND error if linkID is not one of the user's links and
// an EINVALID error if that link is not active (the account must be linked
// again).
func (db *DB) RequestRefresh(ctx context.Context, userID, linkID string) (int, error) {
	const op = "postgres.RequestRefresh"
	what := "user"
	if linkID != "" {
		what = "link"
	}
	uid, err := parseID(userID, what)
	if err != nil {
		return 0, translate(op, err)
	}
	now := db.now()
	sql := `UPDATE links SET
			next_fetch_at = LEAST(next_fetch_at, $2),
			refresh_requested_at = $2
		WHERE user_id = $1 AND status = 'active'
			AND (refresh_requested_at IS NULL OR refresh_requested_at <= $3)`
	args := []any{uid, now, now.Add(-refreshDebounce)}
	var lid string
	if linkID != "" {
		if lid, err = parseID(linkID, "link"); err != nil {
			return 0, translate(op, err)
		}
		sql += " AND id = $4"
		args = append(args, lid)
	}
	var n int64
	err = db.withConn(ctx, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, sql, args...)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n > 0 || lid == "" {
			return nil
		}
		// The link was not queued: missing, not active, or debounced.
		var status pulse.LinkStatus
		if err := c.QueryRow(ctx, "SELECT status FROM links WHERE id = $1 AND user_id = $2",
			lid, uid).Scan(&status); err != nil {
			return err
		}
		if status != pulse.LinkActive {
			return errorf(pulse.EINVALID, "", "link needs re-authorization (status %s): link the account again", status)
		}
		return nil
	})
	if err != nil {
		return 0, translateLink(op, err)
	}
	return int(n), nil
}

// MarkFetched records that the link was fetched at the given time. The
// recorded time never moves backwards, so late or out-of-order reports are
// harmless. It returns an ENOTFOUND error if the link does not exist.
func (db *DB) MarkFetched(ctx context.Context, linkID string, at time.Time) error {
	const op = "postgres.MarkFetched"
	return db.updateLink(ctx, op, linkID,
		"UPDATE links SET last_fetched_at = GREATEST(last_fetched_at, $2) WHERE id = $1", at)
}
