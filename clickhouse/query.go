package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Grain is a time bucket size.
type Grain string

const (
	Hour  Grain = "hour"
	Day   Grain = "day"
	Month Grain = "month"
	Year  Grain = "year"
)

func (g Grain) bucketExpr(col string) (string, error) {
	switch g {
	case Hour:
		return col, nil
	case Day:
		return "toStartOfDay(" + col + ")", nil
	case Month:
		return "toStartOfMonth(" + col + ")", nil
	case Year:
		return "toStartOfYear(" + col + ")", nil
	}
	return "", fmt.Errorf("clickhouse: unknown grain %q", g)
}

// SeriesQuery selects one user's account metrics.
type SeriesQuery struct {
	UserID string // required: every query is scoped to one user
	Grain  Grain
	From   time.Time // inclusive
	To     time.Time // exclusive
	// Platforms filters by platform; empty means all.
	Platforms []string
	// AccountID filters to one account; empty means all.
	AccountID string
}

// Point is one bucket of one account's metrics. Followers is the last
// observed value in the bucket; Min/Max/Avg are over the bucket's hourly
// values.
type Point struct {
	Platform     string
	AccountID    string
	Handle       string
	Bucket       time.Time
	Followers    int64
	FollowersMin int64
	FollowersMax int64
	FollowersAvg float64
	Following    int64
	PostsCount   int64
	Hours        uint64 // hourly observations in the bucket
}

// Series returns one point per account and bucket, ordered by platform,
// account and bucket. Duplicate inserts do not change the answer: each
// hour's value is the highest-version observation.
func (db *DB) Series(ctx context.Context, q SeriesQuery) ([]Point, error) {
	if q.UserID == "" {
		return nil, fmt.Errorf("clickhouse: series: user id required")
	}
	bucket, err := q.Grain.bucketExpr("hour")
	if err != nil {
		return nil, err
	}
	where := []string{"user_id = ?", "hour >= ?", "hour < ?"}
	args := []any{q.UserID, q.From.UTC(), q.To.UTC()}
	if len(q.Platforms) > 0 {
		where = append(where, "has(?, platform)")
		args = append(args, q.Platforms)
	}
	if q.AccountID != "" {
		where = append(where, "account_id = ?")
		args = append(args, q.AccountID)
	}
	query := `SELECT platform, account_id, argMax(h, hour), ` + bucket + ` AS bucket,
			argMax(f, hour), min(f), max(f), avg(f), argMax(g, hour), argMax(pc, hour), count()
		FROM (
			SELECT platform, account_id, hour,
				argMax(handle, version) AS h, argMax(followers, version) AS f,
				argMax(following, version) AS g, argMax(posts_count, version) AS pc
			FROM account_metrics_hourly
			WHERE ` + strings.Join(where, " AND ") + `
			GROUP BY platform, account_id, hour
		)
		GROUP BY platform, account_id, bucket
		ORDER BY platform, account_id, bucket`
	rows, err := db.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: series: %w", translate(err))
	}
	defer rows.Close()
	var out []Point
	for rows.Next() {
		var p Point
		if err := rows.Scan(&p.Platform, &p.AccountID, &p.Handle, &p.Bucket, &p.Followers, &p.FollowersMin,
			&p.FollowersMax, &p.FollowersAvg, &p.Following, &p.PostsCount, &p.Hours); err != nil {
			return nil, fmt.Errorf("clickhouse: series: scan: %w", translate(err))
		}
		p.Bucket = p.Bucket.UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: series: %w", translate(err))
	}
	return out, nil
}

// PostRow is the latest observation of one post.
type PostRow struct {
	Platform  string
	AccountID string
	PostID    string
	CreatedAt time.Time
	Text      string
	Permalink string
	Likes     int64
	Comments  int64
	Shares    int64
	Views     int64
}

// FeedQuery selects a user's combined post feed.
type FeedQuery struct {
	UserID    string // required
	Platforms []string
	// Before pages backwards: only posts created strictly before it. Zero
	// means now.
	Before time.Time
	// Limit defaults to 20, at most 200.
	Limit int
}

// Feed returns the user's posts across platforms, newest first, each with
// its latest counters.
func (db *DB) Feed(ctx context.Context, q FeedQuery) ([]PostRow, error) {
	if q.UserID == "" {
		return nil, fmt.Errorf("clickhouse: feed: user id required")
	}
	if q.Limit <= 0 {
		q.Limit = 20
	}
	q.Limit = min(q.Limit, 200)
	where := []string{"user_id = ?"}
	args := []any{q.UserID}
	if len(q.Platforms) > 0 {
		where = append(where, "has(?, platform)")
		args = append(args, q.Platforms)
	}
	if !q.Before.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, q.Before.UTC())
	}
	args = append(args, q.Limit)
	query := `SELECT platform, argMax(account_id, version), post_id, argMax(created_at, version) AS c,
			argMax(text, version), argMax(permalink, version), argMax(likes, version),
			argMax(comments, version), argMax(shares, version), argMax(views, version)
		FROM posts WHERE ` + strings.Join(where, " AND ") + `
		GROUP BY platform, post_id
		ORDER BY c DESC, platform, post_id
		LIMIT ?`
	rows, err := db.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: feed: %w", translate(err))
	}
	defer rows.Close()
	var out []PostRow
	for rows.Next() {
		var p PostRow
		if err := rows.Scan(&p.Platform, &p.AccountID, &p.PostID, &p.CreatedAt, &p.Text, &p.Permalink,
			&p.Likes, &p.Comments, &p.Shares, &p.Views); err != nil {
			return nil, fmt.Errorf("clickhouse: feed: scan: %w", translate(err))
		}
		p.CreatedAt = p.CreatedAt.UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: feed: %w", translate(err))
	}
	return out, nil
}

// DeleteUser removes every row of userID. ClickHouse applies the mutation
// asynchronously; queries stop returning the rows once it completes.
func (db *DB) DeleteUser(ctx context.Context, userID string) error {
	for _, t := range []string{"account_metrics_hourly", "posts"} {
		if err := db.conn.Exec(ctx, "ALTER TABLE "+t+" DELETE WHERE user_id = ?", userID); err != nil {
			return fmt.Errorf("clickhouse: delete user from %s: %w", t, translate(err))
		}
	}
	return nil
}
