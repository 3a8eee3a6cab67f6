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

// ClaimDue implements the scheduler's Store: it claims up to limit platform
// accounts of platform that have an active link due at now (next_fetch_at
// <= now), accounts with a pending refresh request first, then the most
// overdue, and returns each with all its active links (oldest first).
// Claiming moves the next fetch of the account's active links to
// now+lease, so they are not due again until the lease runs out; the
// caller then calls Reschedule with the real next fetch time. An account
// whose claimer dies before Reschedule is thus retried after the lease.
//
// Budgets are app-wide, so one scheduler claims at a time; the claim
// locks the links it moves, so a second one waits rather than claiming
// the same account. It returns an EINVALID error if limit < 1 or lease <= 0.
func (db *DB) ClaimDue(ctx context.Context, platform topics.Platform, now time.Time, limit int, lease time.Duration) ([]pulse.DueAccount, error) {
	const op = "postgres.ClaimDue"
	switch {
	case limit < 1:
		return nil, errorf(pulse.EINVALID, op, "limit must be positive, got %d", limit)
	case lease <= 0:
		return nil, errorf(pulse.EINVALID, op, "lease must be positive, got %v", lease)
	}
	type row struct {
		linkID, userID, accountID string
		created, due              time.Time
		lastFetched, refreshAt    *time.Time
		cursor                    *string
		weekAt, monthAt           *time.Time
	}
	var rows []row
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		rs, err := c.Query(ctx, `WITH due AS (
				SELECT account_id, min(next_fetch_at) AS due_at,
					max(refresh_requested_at) FILTER (
						WHERE refresh_requested_at > COALESCE(refresh_served_at, '-infinity')) AS refresh_at
				FROM links
				WHERE platform = $1 AND status = 'active' AND next_fetch_at <= $2
				GROUP BY account_id
			), acct AS (
				SELECT * FROM due ORDER BY refresh_at IS NULL, due_at, account_id LIMIT $3
			), claimed AS (
				SELECT l.id, acct.due_at, acct.refresh_at FROM links l JOIN acct USING (account_id)
				WHERE l.platform = $1 AND l.status = 'active'
				FOR UPDATE OF l
			)
			UPDATE links AS l SET next_fetch_at = $4
			FROM claimed
			WHERE l.id = claimed.id
			RETURNING l.id, l.user_id, l.account_id, l.created_at, claimed.due_at, l.last_fetched_at, claimed.refresh_at,
				l.posts_cursor, l.posts_week_read_at, l.posts_month_read_at`,
			string(platform), now, limit, now.Add(lease))
		if err != nil {
			return err
		}
		rows, err = pgx.CollectRows(rs, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.linkID, &x.userID, &x.accountID, &x.created, &x.due, &x.lastFetched, &x.refreshAt,
				&x.cursor, &x.weekAt, &x.monthAt)
			return x, err
		})
		return err
	})
	if err != nil {
		return nil, translate(op, err)
	}
	// UPDATE ... RETURNING keeps no order: links oldest first, accounts in
	// claim order.
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.accountID, b.accountID), a.created.Compare(b.created), cmp.Compare(a.linkID, b.linkID))
	})
	var out []pulse.DueAccount
	noCursor := false // the current account has a link without a cursor
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1].AccountID != r.accountID {
			d := pulse.DueAccount{AccountID: r.accountID, DueAt: r.due.UTC()}
			if r.refreshAt != nil {
				d.RefreshAt = r.refreshAt.UTC()
			}
			out = append(out, d)
			noCursor = false
		}
		l := pulse.DueLink{LinkID: r.linkID, UserID: r.userID}
		if r.lastFetched != nil {
			l.LastFetchedAt = r.lastFetched.UTC()
		}
		d := &out[len(out)-1]
		first := len(d.Links) == 0
		d.Links = append(d.Links, l)
		// The account's posts state: every link's cursor or none, the
		// oldest re-read times (a link never re-read has none).
		switch {
		case r.cursor == nil || *r.cursor == "":
			noCursor, d.Posts.Cursor = true, ""
		case !noCursor:
			d.Posts.Cursor = *r.cursor
		}
		d.Posts.WeekAt = oldest(first, d.Posts.WeekAt, r.weekAt)
		d.Posts.MonthAt = oldest(first, d.Posts.MonthAt, r.monthAt)
	}
	slices.SortFunc(out, func(a, b pulse.DueAccount) int {
		return cmp.Or(cmp.Compare(boolInt(a.RefreshAt.IsZero()), boolInt(b.RefreshAt.IsZero())),
			a.DueAt.Compare(b.DueAt), cmp.Compare(a.AccountID, b.AccountID))
	})
	return out, nil
}

// oldest returns the earlier of cur and t (nil: zero, the earliest), or t
// for an account's first link.
func oldest(first bool, cur time.Time, t *time.Time) time.Time {
	var v time.Time
	if t != nil {
		v = t.UTC()
	}
	if first || v.Before(cur) {
		return v
	}
	return cur
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Reschedule implements the scheduler's Store: each account's active links of
// platform are next due at its At (or at a refresh request made after its
// Claimed time, if earlier), and their refresh requests made at or before
// its Served time are served (a zero Served leaves them pending).
func (db *DB) Reschedule(ctx context.Context, platform topics.Platform, next []pulse.NextFetch) error {
	const op = "postgres.Reschedule"
	if len(next) == 0 {
		return nil
	}
	ids := make([]string, len(next))
	at := make([]time.Time, len(next))
	served := make([]*time.Time, len(next))
	claimed := make([]*time.Time, len(next))
	for i, n := range next {
		ids[i], at[i] = n.AccountID, n.At
		if !n.Served.IsZero() {
			served[i] = &next[i].Served
		}
		if !n.Claimed.IsZero() {
			claimed[i] = &next[i].Claimed
		}
	}
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		// A refresh pressed after the claim keeps the link due at the press.
		_, err := c.Exec(ctx, `UPDATE links AS l SET
				next_fetch_at = CASE WHEN l.refresh_requested_at > n.claimed
					THEN LEAST(n.at, l.refresh_requested_at) ELSE n.at END,
				refresh_served_at = GREATEST(l.refresh_served_at, n.served)
			FROM unnest($2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[])
				AS n(account_id, at, served, claimed)
			WHERE l.platform = $1 AND l.account_id = n.account_id AND l.status = 'active'`,
			string(platform), ids, at, served, claimed)
		return err
	})
	return translate(op, err)
}

// CountAccounts implements the scheduler's Store: the platform accounts of
// platform with an active link.
func (db *DB) CountAccounts(ctx context.Context, platform topics.Platform) (int, error) {
	const op = "postgres.CountAccounts"
	var n int
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT count(DISTINCT account_id) FROM links
			WHERE platform = $1 AND status = 'active'`, string(platform)).Scan(&n)
	})
	return n, translate(op, err)
}

// dueChannel is the channel links_due_notify notifies.
const dueChannel = "pulse_links_due"

// Watch implements the scheduler's Waker with LISTEN/NOTIFY: it calls wake each
// time a link may have become due early (a refresh request, a new or
// reactivated link) until ctx is done, on a connection of its own. It
// returns ctx's error, or the error that ended the connection.
func (db *DB) Watch(ctx context.Context, wake func()) error {
	const op = "postgres.Watch"
	pc, err := db.pool.Acquire(ctx)
	if err != nil {
		return translate(op, err)
	}
	// The connection will be LISTENing: take it out of the pool, and close
	// it when done.
	c := pc.Hijack()
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		c.Close(cctx)
	}()
	if _, err := c.Exec(ctx, "LISTEN "+dueChannel); err != nil {
		return translate(op, err)
	}
	for {
		if _, err := c.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return translate(op, err)
		}
		wake()
	}
}

// RequestRefresh asks for an early fetch of the user's link linkID, or of
// all the user's active links if linkID is "": each one becomes due now
// (its next fetch moves to now unless already earlier) and is flagged
// RefreshRequested until the scheduler emits it (Reschedule serves it).
// The fetch still goes through the scheduler, so it counts against the
// platform's budget.
//
// Requests are debounced per link: a link already requested within the
// last minute is left alone, whether or not that request was served
// meanwhile. Links that are not active (needing re-authorization or
// revoked) are never queued. It returns how many links
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

// MarkPostsRead records what a fetch of the link read of its account's
// posts (see pulse.PostsRead): its cursor, where the next incremental
// read starts ("" keeps the link's), and, when it re-read 7 days of posts
// or more (30: a full read), when it did. Re-read times never move
// backwards. It returns an ENOTFOUND error if the link does not exist.
func (db *DB) MarkPostsRead(ctx context.Context, linkID string, r pulse.PostsRead) error {
	const op = "postgres.MarkPostsRead"
	var week, month *time.Time
	if r.Days >= 7 {
		week = &r.At
	}
	if r.Days >= topics.RecentDays {
		month = &r.At
	}
	return db.updateLink(ctx, op, linkID, `UPDATE links SET
			posts_cursor = COALESCE(NULLIF($2, ''), posts_cursor),
			posts_week_read_at = GREATEST(posts_week_read_at, $3),
			posts_month_read_at = GREATEST(posts_month_read_at, $4)
		WHERE id = $1`, r.Cursor, week, month)
}

// MarkFetched records that the link was fetched at the given time. The
// recorded time never moves backwards, so late or out-of-order reports are
// harmless. It returns an ENOTFOUND error if the link does not exist.
func (db *DB) MarkFetched(ctx context.Context, linkID string, at time.Time) error {
	const op = "postgres.MarkFetched"
	return db.updateLink(ctx, op, linkID,
		"UPDATE links SET last_fetched_at = GREATEST(last_fetched_at, $2) WHERE id = $1", at)
}
