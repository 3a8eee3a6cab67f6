package clickhouse

import (
	"context"
	"fmt"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pulsehq/pulse"
)

// DefaultExportBatch is the rows per batch of ExportMetrics and
// ExportPosts when the caller asks for 0.
const DefaultExportBatch = 8192

// ExportMetrics streams what Series answers for q, ordered by platform,
// account and bucket, in batches of at most batchRows rows
// (DefaultExportBatch when 0): fn gets each batch, reused afterwards. Memory
// is bounded by the batch and the driver's block, whatever the number of
// rows. One statement merges account metrics and post activity in
// ClickHouse, and keeps, as Series does, only buckets with a follower
// observation or some post activity (a post observed without a gain is
// none).
func (db *DB) ExportMetrics(ctx context.Context, q pulse.SeriesQuery, batchRows int, fn func(*pulse.MetricsBatch) error) error {
	if q.UserID == "" {
		return fmt.Errorf("clickhouse: export metrics: user id required")
	}
	st, err := exportMetricsSQL(q)
	if err != nil {
		return fmt.Errorf("clickhouse: export metrics: %w", err)
	}
	if batchRows <= 0 {
		batchRows = DefaultExportBatch
	}
	b := &pulse.MetricsBatch{}
	var (
		platform, account, handle                         string
		bucket                                            time.Time
		fol, fmin, fmax, fsum, following, pc, pub, lg, cg int64
		hours                                             uint64
	)
	err = db.query(exportContext(ctx, batchRows), st, func(s scanner) error {
		if err := s.Scan(&platform, &account, &bucket, &handle, &fol, &fmin, &fmax, &fsum, &following, &pc, &hours,
			&pub, &lg, &cg); err != nil {
			return err
		}
		avg := 0.0
		if hours > 0 {
			avg = float64(fsum) / float64(hours)
		}
		b.Platform, b.AccountID, b.Handle = append(b.Platform, platform), append(b.AccountID, account), append(b.Handle, handle)
		b.Bucket = append(b.Bucket, bucket.UTC())
		b.Followers, b.FollowersMin, b.FollowersMax = append(b.Followers, fol), append(b.FollowersMin, fmin), append(b.FollowersMax, fmax)
		b.FollowersAvg = append(b.FollowersAvg, avg)
		b.Following, b.PostsCount, b.Hours = append(b.Following, following), append(b.PostsCount, pc), append(b.Hours, int64(hours))
		b.PostsPublished, b.LikesGained, b.CommentsGained = append(b.PostsPublished, pub), append(b.LikesGained, lg), append(b.CommentsGained, cg)
		if b.Len() >= batchRows {
			if err := fn(b); err != nil {
				return err
			}
			b.Reset()
		}
		return nil
	})
	if err == nil && b.Len() > 0 {
		err = fn(b)
	}
	if err != nil {
		return fmt.Errorf("clickhouse: export metrics: %w", err)
	}
	return nil
}

// exportContext asks the server for blocks of at most batchRows rows, so
// that the driver holds no more than a few batches' worth (the default
// block is 65,536 rows).
func exportContext(ctx context.Context, batchRows int) context.Context {
	return ch.Context(ctx, ch.WithSettings(ch.Settings{"max_block_size": batchRows}))
}

// exportMetricsSQL merges Series' two statements into one, ordered for
// streaming: account rows and post-activity rows are combined by (platform,
// account, bucket) in ClickHouse. A bucket with post activity only has
// Hours 0 and zero follower fields; its handle is empty.
func exportMetricsSQL(q pulse.SeriesQuery) (statement, error) {
	var stmts [2]statement
	var acct, bucket string
	if q.Grain == pulse.GrainHour {
		stmts = hourlySeriesSQL(q)
		acct = `SELECT platform, account_id, hour AS b, e_h AS h, e_f AS f, e_f AS fmin, e_f AS fmax, e_f AS fsum,
               e_g AS g, e_pc AS pc, toUInt64(1) AS n, toInt64(0) AS pub, toInt64(0) AS lg, toInt64(0) AS cg
        FROM (` + stmts[0].sql + `)`
		bucket = "b"
	} else {
		var err error
		if stmts, err = rollupSeriesSQL(q); err != nil {
			return statement{}, err
		}
		_, _, col, _ := rollupTables(q.Grain)
		bucket = "toDateTime(" + col + ", 'UTC') AS b"
		acct = `SELECT platform, account_id, ` + bucket + `, e_h AS h, e_f AS f, e_fmin AS fmin,
               e_fmax AS fmax, e_fsum AS fsum, e_g AS g, e_pc AS pc, e_n AS n, toInt64(0) AS pub, toInt64(0) AS lg, toInt64(0) AS cg
        FROM (` + stmts[0].sql + `)`
	}
	posts := `SELECT platform, account_id, ` + bucket + `, '' AS h, toInt64(0) AS f, toInt64(0) AS fmin,
               toInt64(0) AS fmax, toInt64(0) AS fsum, toInt64(0) AS g, toInt64(0) AS pc, toUInt64(0) AS n,
               toInt64(e_pub) AS pub, toInt64(e_lg) AS lg, toInt64(e_cg) AS cg
        FROM (` + stmts[1].sql + `)`
	sql := `SELECT platform, account_id, b, max(h), sum(f), sum(fmin), sum(fmax), sum(fsum), sum(g), sum(pc), sum(n),
       sum(pub), sum(lg), sum(cg)
FROM (
    ` + acct + `
    UNION ALL
    ` + posts + `
)
GROUP BY platform, account_id, b
HAVING sum(n) > 0 OR sum(pub) != 0 OR sum(lg) != 0 OR sum(cg) != 0
ORDER BY platform, account_id, b`
	args := append(append([]any{}, stmts[0].args...), stmts[1].args...)
	return statement{sql: sql, args: args}, nil
}

// ExportPosts streams the posts created in [From, To) of q's user and
// platforms, each with its latest counters, oldest first (then platform
// and id), in batches like ExportMetrics.
func (db *DB) ExportPosts(ctx context.Context, q pulse.PostsExportQuery, batchRows int, fn func(*pulse.PostsBatch) error) error {
	if q.UserID == "" {
		return fmt.Errorf("clickhouse: export posts: user id required")
	}
	if batchRows <= 0 {
		batchRows = DefaultExportBatch
	}
	where := "user_id = ? AND created_at >= ? AND created_at < ?"
	args := []any{q.UserID, q.From.UTC(), q.To.UTC()}
	if len(q.Platforms) > 0 {
		where += " AND has(?, platform)"
		args = append(args, q.Platforms)
	}
	st := statement{sql: `SELECT platform, argMax(account_id, version), post_id, argMax(created_at, version) AS c,
       argMax(text, version), argMax(permalink, version), argMax(likes, version),
       argMax(comments, version), argMax(shares, version), argMax(views, version)
FROM posts_current
WHERE ` + where + `
GROUP BY platform, post_id
ORDER BY c, platform, post_id`, args: args}
	b := &pulse.PostsBatch{}
	var p pulse.PostRow
	err := db.query(exportContext(ctx, batchRows), st, func(s scanner) error {
		if err := s.Scan(&p.Platform, &p.AccountID, &p.PostID, &p.CreatedAt, &p.Text, &p.Permalink,
			&p.Likes, &p.Comments, &p.Shares, &p.Views); err != nil {
			return err
		}
		b.Platform, b.AccountID, b.PostID = append(b.Platform, p.Platform), append(b.AccountID, p.AccountID), append(b.PostID, p.PostID)
		b.CreatedAt, b.Text, b.Permalink = append(b.CreatedAt, p.CreatedAt.UTC()), append(b.Text, p.Text), append(b.Permalink, p.Permalink)
		b.Likes, b.Comments, b.Shares, b.Views = append(b.Likes, p.Likes), append(b.Comments, p.Comments), append(b.Shares, p.Shares), append(b.Views, p.Views)
		if b.Len() >= batchRows {
			if err := fn(b); err != nil {
				return err
			}
			b.Reset()
		}
		return nil
	})
	if err == nil && b.Len() > 0 {
		err = fn(b)
	}
	if err != nil {
		return fmt.Errorf("clickhouse: export posts: %w", err)
	}
	return nil
}

// LastObserved returns, per link of the user, the time (millisecond
// precision: the rows' version) of the newest account observation of an
// hour at or after since. The API uses it to tell when a refresh is
// visible.
func (db *DB) LastObserved(ctx context.Context, userID string, since time.Time) (map[string]time.Time, error) {
	if userID == "" {
		return nil, fmt.Errorf("clickhouse: last observed: user id required")
	}
	out := map[string]time.Time{}
	err := db.query(ctx, statement{sql: `SELECT link_id, max(version) FROM account_metrics_hourly
WHERE user_id = ? AND hour >= ?
GROUP BY link_id`, args: []any{userID, since.UTC().Truncate(time.Hour)}}, func(s scanner) error {
		var link string
		var v uint64
		if err := s.Scan(&link, &v); err != nil {
			return err
		}
		out[link] = time.UnixMilli(int64(v)).UTC()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: last observed: %w", err)
	}
	return out, nil
}
