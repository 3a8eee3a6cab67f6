package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pulsehq/pulse"
)

const jobColumns = `id, user_id, link_id, state, reason, run_at, fetching_at, created_at, updated_at`

func scanJob(row pgx.Row) (pulse.RefreshJob, error) {
	var j pulse.RefreshJob
	var runAt, fetchingAt *time.Time
	if err := row.Scan(&j.ID, &j.UserID, &j.LinkID, &j.State, &j.Reason, &runAt, &fetchingAt, &j.CreatedAt, &j.UpdatedAt); err != nil {
		return pulse.RefreshJob{}, err
	}
	if runAt != nil {
		j.RunAt = runAt.UTC()
	}
	if fetchingAt != nil {
		j.FetchingAt = fetchingAt.UTC()
	}
	j.CreatedAt, j.UpdatedAt = j.CreatedAt.UTC(), j.UpdatedAt.UTC()
	return j, nil
}

// StartRefresh asks for a fresh fetch of the user's link linkID, or of all
// their links when linkID is "", and returns one job per link. An active
// link is made due now (the scheduler fetches it within its budget) and
// its job is queued; a link needing re-authorization gets a deferred job
// saying so. A link that already has an unfinished job returns that job,
// so pressing twice does not queue twice. Fails with NotFound for a link
// that is not the user's.
func (db *DB) StartRefresh(ctx context.Context, userID, linkID string) ([]pulse.RefreshJob, error) {
	const op = "postgres.StartRefresh"
	uid, err := parseID(userID, "user")
	if err != nil {
		return nil, translate(op, err)
	}
	sql := `SELECT id, status FROM links WHERE user_id = $1`
	args := []any{uid}
	if linkID != "" {
		lid, err := parseID(linkID, "link")
		if err != nil {
			return nil, translate(op, err)
		}
		sql += " AND id = $2"
		args = append(args, lid)
	}
	now := db.now()
	var jobs []pulse.RefreshJob
	err = db.withTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sql+" ORDER BY created_at FOR UPDATE", args...)
		if err != nil {
			return err
		}
		type link struct {
			id     string
			status pulse.LinkStatus
		}
		var links []link
		for rows.Next() {
			var l link
			if err := rows.Scan(&l.id, &l.status); err != nil {
				return err
			}
			links = append(links, l)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if linkID != "" && len(links) == 0 {
			return errorf(pulse.ENOTFOUND, op, "link not found")
		}
		for _, l := range links {
			j, err := scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM refresh_jobs
				WHERE link_id = $1 AND state IN ('queued', 'fetching', 'deferred')`, l.id))
			switch {
			case err == nil:
				jobs = append(jobs, j)
				continue
			case err != pgx.ErrNoRows:
				return err
			}
			state, reason := pulse.JobQueued, ""
			if l.status == pulse.LinkActive {
				if _, err := tx.Exec(ctx, `UPDATE links SET next_fetch_at = LEAST(next_fetch_at, $2), refresh_requested_at = $2
					WHERE id = $1`, l.id, now); err != nil {
					return err
				}
			} else {
				state, reason = pulse.JobDeferred, pulse.DeferReauth
			}
			j, err = scanJob(tx.QueryRow(ctx, `INSERT INTO refresh_jobs (id, user_id, link_id, state, reason, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING `+jobColumns, uuid.NewString(), uid, l.id, state, reason, now))
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		return nil, translate(op, err)
	}
	return jobs, nil
}

// RefreshJobs returns the user's jobs of the last hour and every unfinished
// one, newest first (at most 100).
func (db *DB) RefreshJobs(ctx context.Context, userID string) ([]pulse.RefreshJob, error) {
	const op = "postgres.RefreshJobs"
	uid, err := parseID(userID, "user")
	if err != nil {
		return nil, translate(op, err)
	}
	var jobs []pulse.RefreshJob
	err = db.withConn(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT `+jobColumns+` FROM refresh_jobs
			WHERE user_id = $1 AND (created_at >= $2 OR state IN ('queued', 'fetching', 'deferred', 'processed'))
			ORDER BY created_at DESC, id LIMIT 100`, uid, db.now().Add(-time.Hour))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return rows.Err()
	})
	return jobs, translate(op, err)
}

// advanceJobs moves the jobs of linkIDs in one of from to state. Ids that
// are not UUIDs name no link of ours and are skipped.
func (db *DB) advanceJobs(ctx context.Context, op string, linkIDs []string, from []pulse.JobState, set string, args ...any) error {
	links := make([]string, 0, len(linkIDs))
	for _, l := range linkIDs {
		if _, err := uuid.Parse(l); err == nil {
			links = append(links, l)
		}
	}
	if len(links) == 0 {
		return nil
	}
	states := make([]string, len(from))
	for i, s := range from {
		states[i] = string(s)
	}
	err := db.withConn(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, `UPDATE refresh_jobs SET `+set+`, updated_at = $3 WHERE link_id = ANY($1::uuid[]) AND state = ANY($2)`,
			append([]any{links, states, db.now()}, args...)...)
		return err
	})
	return translate(op, err)
}

// JobsFetching marks the queued and deferred jobs of linkIDs fetching: a
// fetch of their account was requested at at.
func (db *DB) JobsFetching(ctx context.Context, linkIDs []string, at time.Time) error {
	return db.advanceJobs(ctx, "postgres.JobsFetching", linkIDs, []pulse.JobState{pulse.JobQueued, pulse.JobDeferred},
		"state = 'fetching', reason = '', run_at = NULL, fetching_at = $4", at)
}

// JobsFetched ends the fetching of the jobs of linkIDs: processed when ok,
// else failed with reason.
func (db *DB) JobsFetched(ctx context.Context, linkIDs []string, ok bool, reason string) error {
	state := pulse.JobProcessed
	if !ok {
		state = pulse.JobFailed
	}
	return db.advanceJobs(ctx, "postgres.JobsFetched", linkIDs, []pulse.JobState{pulse.JobFetching},
		"state = $4, reason = $5", string(state), reason)
}

// JobsDeferred defers the queued, fetching or deferred jobs of linkIDs:
// reason says why, until when they will run (zero: unknown).
func (db *DB) JobsDeferred(ctx context.Context, linkIDs []string, reason string, until time.Time) error {
	var runAt *time.Time
	if !until.IsZero() {
		runAt = &until
	}
	return db.advanceJobs(ctx, "postgres.JobsDeferred", linkIDs, []pulse.JobState{pulse.JobQueued, pulse.JobFetching, pulse.JobDeferred},
		"state = 'deferred', reason = $4, run_at = $5", reason, runAt)
}

// JobsVisible marks the user's jobs visible that the newest observation now
// readable for their link answers (observed: link id → newest observation
// time): processed and fetching jobs whose fetch was requested at or
// before it, and queued or deferred jobs whose press came before it (a
// scheduler that restarted, or none, did not report on them; the numbers
// are newer than the press all the same).
func (db *DB) JobsVisible(ctx context.Context, userID string, observed map[string]time.Time) error {
	const op = "postgres.JobsVisible"
	uid, err := parseID(userID, "user")
	if err != nil {
		return translate(op, err)
	}
	links, times := make([]string, 0, len(observed)), make([]time.Time, 0, len(observed))
	for l, t := range observed {
		if _, err := uuid.Parse(l); err == nil {
			links, times = append(links, l), append(times, t)
		}
	}
	if len(links) == 0 {
		return nil
	}
	err = db.withConn(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, `UPDATE refresh_jobs j SET state = 'visible', updated_at = $4
			FROM unnest($2::uuid[], $3::timestamptz[]) AS o(link_id, observed_at)
			WHERE j.user_id = $1 AND j.link_id = o.link_id AND (
				(j.state IN ('processed', 'fetching') AND j.fetching_at <= o.observed_at) OR
				(j.state IN ('queued', 'deferred') AND j.created_at <= o.observed_at))`,
			uid, links, times, db.now())
		return err
	})
	return translate(op, err)
}
