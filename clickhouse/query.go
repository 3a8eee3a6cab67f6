package clickhouse

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pulsehq/pulse"
)

// rollupTables names the precomputed tables of a grain coarser than an hour
// and their bucket column.
func rollupTables(g pulse.Grain) (account, posts, col string, err error) {
	switch g {
	case pulse.GrainDay:
		return "account_metrics_daily", "post_metrics_daily", "day", nil
	case pulse.GrainMonth:
		return "account_metrics_monthly", "post_metrics_monthly", "month", nil
	case pulse.GrainYear:
		return "account_metrics_yearly", "post_metrics_yearly", "year", nil
	}
	return "", "", "", fmt.Errorf("clickhouse: unknown grain %q", g)
}

// bucketStart returns the start of the bucket of grain g holding t (UTC).
func bucketStart(g pulse.Grain, t time.Time) time.Time {
	switch g {
	case pulse.GrainDay:
		return utcDay(t)
	case pulse.GrainMonth:
		return startOfMonth(t.UTC())
	case pulse.GrainYear:
		return startOfYear(t.UTC())
	}
	return t.UTC().Truncate(time.Hour)
}

type pointKey struct {
	platform, account string
	bucket            int64 // Unix seconds
}

func keyOf(p *pulse.Point) pointKey { return pointKey{p.Platform, p.AccountID, p.Bucket.Unix()} }

// filter holds the optional conditions shared by Series' statements.
type filter struct {
	sql  string
	args []any
}

func seriesFilter(q pulse.SeriesQuery) filter {
	var f filter
	if len(q.Platforms) > 0 {
		f.sql += " AND has(?, platform)"
		f.args = append(f.args, q.Platforms)
	}
	if q.AccountID != "" {
		f.sql += " AND account_id = ?"
		f.args = append(f.args, q.AccountID)
	}
	return f
}

// Series returns one point per account and bucket that has follower
// observations or post activity, ordered by platform, account and bucket.
// Day, month and year points are read from the precomputed rollups; hour
// points from the hourly table. Duplicate inserts never change the answer.
// Its statements (account metrics, post metrics, insights; at hour grain
// the post metrics are two) run concurrently, on connections of the pool.
func (db *DB) Series(ctx context.Context, q pulse.SeriesQuery) ([]pulse.Point, error) {
	if q.UserID == "" {
		return nil, fmt.Errorf("clickhouse: series: user id required")
	}
	var stmts [2]statement
	if q.Grain == pulse.GrainHour {
		stmts = hourlySeriesSQL(q)
	} else {
		var err error
		if stmts, err = rollupSeriesSQL(q); err != nil {
			return nil, err
		}
	}
	// The account, post and insight statements are independent: they run
	// at once, so a request waits for the slowest, not for the sum.
	var acct, posts, ins []pulse.Point
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return db.query(gctx, stmts[0], func(s scanner) error {
			var p pulse.Point
			var sum int64
			var err error
			if q.Grain == pulse.GrainHour {
				err = s.Scan(&p.Platform, &p.AccountID, &p.Bucket, &p.Handle, &p.Followers, &p.Following, &p.PostsCount)
				sum = p.Followers
			} else {
				err = s.Scan(&p.Platform, &p.AccountID, &p.Bucket, &p.Handle, &p.Followers, &p.FollowersMin,
					&p.FollowersMax, &sum, &p.Following, &p.PostsCount, &p.Hours)
			}
			if err != nil {
				return err
			}
			acct = append(acct, accountPoint(q.Grain, p, sum))
			return nil
		})
	})
	g.Go(func() error {
		if q.Grain == pulse.GrainHour {
			var err error
			posts, err = db.hourlyPosts(gctx, q)
			return err
		}
		return db.query(gctx, stmts[1], func(s scanner) error {
			var p pulse.Point
			if err := s.Scan(&p.Platform, &p.AccountID, &p.Bucket, &p.PostsPublished, &p.LikesGained, &p.CommentsGained); err != nil {
				return err
			}
			p.Bucket = p.Bucket.UTC()
			posts = append(posts, p)
			return nil
		})
	})
	g.Go(func() error {
		var err error
		ins, err = db.insights(gctx, q)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("clickhouse: series: %w", err)
	}
	return mergePoints(acct, append(posts, ins...)), nil
}

// insightHour is one hour's latest insights of an account (-1: not
// reported).
type insightHour struct {
	platform, account string
	hour              time.Time
	reach, views, pv  int64
}

// insightsSQL reads the account insights of the hours of q's buckets: each
// hour's latest observation (highest version), one row per account and
// hour; sumInsights sums them into buckets. Insights are stored per
// platform day (one hour a day), so a year is a few hundred rows per
// account. One flat statement: on 18.16 the nested form that summed the
// buckets in SQL cost 4 ms of server CPU against 2, even reading no rows.
func insightsSQL(q pulse.SeriesQuery) (statement, error) {
	switch q.Grain {
	case pulse.GrainHour, pulse.GrainDay, pulse.GrainMonth, pulse.GrainYear:
	default:
		return statement{}, fmt.Errorf("unknown grain %q", q.Grain)
	}
	from, to := bucketStart(q.Grain, q.From), q.To.UTC()
	if q.Grain != pulse.GrainHour {
		// Buckets are returned whole: read to the end of the last one.
		to = bucketStart(q.Grain, to.Add(-time.Second))
		switch q.Grain {
		case pulse.GrainDay:
			to = to.AddDate(0, 0, 1)
		case pulse.GrainMonth:
			to = to.AddDate(0, 1, 0)
		case pulse.GrainYear:
			to = to.AddDate(1, 0, 0)
		}
	}
	f := seriesFilter(q)
	return statement{
		sql: `SELECT platform, account_id, hour, argMax(reach, version), argMax(views, version), argMax(profile_views, version)
FROM account_insights_hourly
WHERE user_id = ? AND hour >= ? AND hour < ?` + f.sql + `
GROUP BY platform, account_id, hour`,
		args: append([]any{q.UserID, from, to}, f.args...),
	}, nil
}

// sumInsights sums hours into buckets of grain g: each metric is the sum
// of the hours that reported it, nil where none did; a bucket where no
// hour reported any metric is left out (mergePoints would take it for a
// bucket of post activity). Points are in the order of their buckets'
// first hour in hours.
func sumInsights(g pulse.Grain, hours []insightHour) []pulse.Point {
	index := map[pointKey]int{}
	var out []pulse.Point
	add := func(sum **int64, n int64) {
		if n < 0 {
			return
		}
		if *sum == nil {
			*sum = new(int64)
		}
		**sum += n
	}
	for _, h := range hours {
		p := pulse.Point{Platform: h.platform, AccountID: h.account, Bucket: bucketStart(g, h.hour)}
		i, ok := index[keyOf(&p)]
		if !ok {
			i = len(out)
			index[keyOf(&p)] = i
			out = append(out, p)
		}
		add(&out[i].Reach, h.reach)
		add(&out[i].Views, h.views)
		add(&out[i].ProfileViews, h.pv)
	}
	return slices.DeleteFunc(out, func(p pulse.Point) bool { return p.Reach == nil && p.Views == nil && p.ProfileViews == nil })
}

// insights reads the account insights of q's buckets (insightsSQL,
// sumInsights).
func (db *DB) insights(ctx context.Context, q pulse.SeriesQuery) ([]pulse.Point, error) {
	st, err := insightsSQL(q)
	if err != nil {
		return nil, err
	}
	var hours []insightHour
	err = db.query(ctx, st, func(s scanner) error {
		var h insightHour
		if err := s.Scan(&h.platform, &h.account, &h.hour, &h.reach, &h.views, &h.pv); err != nil {
			return err
		}
		hours = append(hours, h)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sumInsights(q.Grain, hours), nil
}

// accountPoint completes a point read from an account statement: at hour
// grain the hour's one value is the bucket's last, min, max and sum.
func accountPoint(g pulse.Grain, p pulse.Point, sum int64) pulse.Point {
	p.Bucket = p.Bucket.UTC()
	if g == pulse.GrainHour {
		p.FollowersMin, p.FollowersMax, p.Hours = p.Followers, p.Followers, 1
	}
	if p.Hours > 0 {
		p.FollowersAvg = float64(sum) / float64(p.Hours)
	}
	return p
}

// mergePoints adds post activity to the account points of the same bucket,
// keeps buckets with post activity only, and orders the result by platform,
// account and bucket.
func mergePoints(points, posts []pulse.Point) []pulse.Point {
	index := make(map[pointKey]int, len(points))
	for i := range points {
		index[keyOf(&points[i])] = i
	}
	for _, p := range posts {
		if i, ok := index[keyOf(&p)]; ok {
			if p.Reach != nil || p.Views != nil || p.ProfileViews != nil {
				points[i].Reach, points[i].Views, points[i].ProfileViews = p.Reach, p.Views, p.ProfileViews
			} else {
				points[i].PostsPublished, points[i].LikesGained, points[i].CommentsGained = p.PostsPublished, p.LikesGained, p.CommentsGained
			}
		} else if p.PostsPublished != 0 || p.LikesGained != 0 || p.CommentsGained != 0 || p.Reach != nil || p.Views != nil || p.ProfileViews != nil {
			index[keyOf(&p)] = len(points)
			points = append(points, p)
		}
	}
	sort.Slice(points, func(i, j int) bool {
		a, b := &points[i], &points[j]
		if a.Platform != b.Platform {
			return a.Platform < b.Platform
		}
		if a.AccountID != b.AccountID {
			return a.AccountID < b.AccountID
		}
		return a.Bucket.Before(b.Bucket)
	})
	fillHandles(points)
	return points
}

// fillHandles gives points without a follower observation the handle of
// the nearest earlier point of their account, else of the nearest later one.
func fillHandles(points []pulse.Point) {
	for pass := 0; pass < 2; pass++ {
		var last pulse.Point
		for k := range points {
			i := k
			if pass == 1 {
				i = len(points) - 1 - k
			}
			p := &points[i]
			if p.Handle == "" && last.Handle != "" && last.Platform == p.Platform && last.AccountID == p.AccountID {
				p.Handle = last.Handle
			}
			last = *p
		}
	}
}

// statement is a query with its arguments.
type statement struct {
	sql  string
	args []any
}

// hourlySeriesSQL reads hour points: each hour's latest observation, and
// post activity computed from the posts tables.
func hourlySeriesSQL(q pulse.SeriesQuery) [2]statement {
	f := seriesFilter(q)
	from, to := q.From.UTC().Truncate(time.Hour), q.To.UTC()
	acct := statement{
		sql: `SELECT platform, account_id, hour, argMax(handle, version) AS e_h, argMax(followers, version) AS e_f,
       argMax(following, version) AS e_g, argMax(posts_count, version) AS e_pc
FROM account_metrics_hourly
WHERE user_id = ? AND hour >= ? AND hour < ?` + f.sql + `
GROUP BY platform, account_id, hour
ORDER BY platform, account_id, hour`,
		args: append([]any{q.UserID, from, to}, f.args...),
	}
	// Gains of each post observed in the range, per observed hour: its
	// last counters of that hour minus its last counters before it. A post
	// is never observed before it was created, so its history starts at
	// the hour of the earliest creation among the posts observed in the
	// range (less a day for clocks that disagree): the scan reads those
	// partitions only, not the user's whole history, and the join with the
	// observed posts keeps only theirs. On 18.16 each partition a
	// statement touches costs about half a millisecond of CPU even when
	// none of its rows are the user's.
	posts := statement{
		sql: `SELECT platform, account_id, b, sum(pub) AS e_pub, sum(dl) AS e_lg, sum(dc) AS e_cg
FROM (
    SELECT platform, account_id, b, toUInt64(0) AS pub,
           argMaxIf(likes, version, hour = b) - argMaxIf(likes, version, hour < b) AS dl,
           argMaxIf(comments, version, hour = b) - argMaxIf(comments, version, hour < b) AS dc
    FROM (
        SELECT platform, post_id, account_id, hour, likes, comments, version
        FROM posts
        WHERE user_id = ? AND hour < ?
          AND hour >= (SELECT if(min(created_at) > toDateTime(172800), toStartOfHour(min(created_at)) - 86400, toDateTime(0))
                       FROM posts WHERE user_id = ? AND hour >= ? AND hour < ?` + f.sql + `)
    ) AS history ALL INNER JOIN (
        SELECT DISTINCT platform, post_id, hour AS b FROM posts WHERE user_id = ? AND hour >= ? AND hour < ?` + f.sql + `
    ) AS observed USING (platform, post_id)
    WHERE hour <= b
    GROUP BY platform, account_id, post_id, b
    UNION ALL
    SELECT platform, account_id, toStartOfHour(c) AS b, toUInt64(1) AS pub, toInt64(0) AS dl, toInt64(0) AS dc
    FROM (
        SELECT platform, post_id, argMax(account_id, version) AS account_id, argMax(created_at, version) AS c
        FROM posts_current
        WHERE user_id = ? AND created_at >= ? AND created_at < ?` + f.sql + `
        GROUP BY platform, post_id
    )
)
GROUP BY platform, account_id, b`,
	}
	posts.args = append(posts.args, q.UserID, to, q.UserID, from, to)
	posts.args = append(posts.args, f.args...)
	posts.args = append(posts.args, q.UserID, from, to)
	posts.args = append(posts.args, f.args...)
	posts.args = append(posts.args, q.UserID, from, to)
	posts.args = append(posts.args, f.args...)
	return [2]statement{acct, posts}
}

// rollupSeriesSQL reads day, month or year points from the rollups, each
// bucket's highest version.
func rollupSeriesSQL(q pulse.SeriesQuery) ([2]statement, error) {
	acctTable, postTable, col, err := rollupTables(q.Grain)
	if err != nil {
		return [2]statement{}, err
	}
	f := seriesFilter(q)
	// Buckets overlapping [From, To): starting at or after the bucket
	// holding From, and before To (bucket starts are whole days).
	from, to := bucketStart(q.Grain, q.From), utcDay(q.To)
	if !to.Equal(q.To.UTC()) {
		to = to.AddDate(0, 0, 1)
	}
	args := append([]any{q.UserID, dateArg(from), dateArg(to)}, f.args...)
	r := strings.NewReplacer("$col", col, "$acct", acctTable, "$posts", postTable, "$filter", f.sql)
	return [2]statement{
		{sql: r.Replace(`SELECT platform, account_id, $col,
       argMax(handle, version) AS e_h, argMax(followers, version) AS e_f, argMax(followers_min, version) AS e_fmin,
       argMax(followers_max, version) AS e_fmax, argMax(followers_sum, version) AS e_fsum, argMax(following, version) AS e_g,
       argMax(posts_count, version) AS e_pc, argMax(hours, version) AS e_n
FROM $acct
WHERE user_id = ? AND $col >= ? AND $col < ?$filter
GROUP BY platform, account_id, $col
ORDER BY platform, account_id, $col`), args: args},
		{sql: r.Replace(`SELECT platform, account_id, $col,
       argMax(posts_published, version) AS e_pub, argMax(likes_gained, version) AS e_lg,
       argMax(comments_gained, version) AS e_cg
FROM $posts
WHERE user_id = ? AND $col >= ? AND $col < ?$filter
GROUP BY platform, account_id, $col`), args: args},
	}, nil
}

// scanner is the part of driver.Rows a row callback needs.
type scanner interface{ Scan(dest ...any) error }

// query runs st and calls fn for each row.
func (db *DB) query(ctx context.Context, st statement, fn func(scanner) error) error {
	// In the SQL rather than as a driver setting: this driver's settings
	// arrive garbled on ClickHouse 18.16 (numeric ones too), while a
	// SETTINGS clause works on every version.
	sql := fmt.Sprintf("%s\nSETTINGS max_execution_time = %d", st.sql, int(db.queryTimeout/time.Second))
	rows, err := db.conn.Query(ctx, sql, st.args...)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return fmt.Errorf("scan: %w", translate(err))
		}
	}
	return translate(rows.Err())
}

// feedSQL builds the feed statement: posts_current is ordered by (user_id,
// created_at), so a page reads one user's key range.
// rankExpr is the ORDER BY key of each post rank, highest first.
var rankExpr = map[pulse.PostRank]string{
	pulse.RankLikes: "l", pulse.RankComments: "cm", pulse.RankShares: "sh", pulse.RankViews: "v", pulse.RankEngagement: "rate",
}

func feedSQL(q pulse.FeedQuery) statement {
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
	if !q.From.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, q.From.UTC())
	}
	if !q.To.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, q.To.UTC())
	}
	having := ""
	if a := q.After; a != nil {
		// created_at is immutable: the WHERE narrows the key range, the
		// HAVING places the cursor exactly.
		at := a.CreatedAt.UTC().Truncate(time.Second)
		where = append(where, "created_at <= ?")
		args = append(args, at)
		having = "\n    HAVING c < ? OR (c = ? AND (platform > ? OR (platform = ? AND post_id > ?)))"
		args = append(args, at, at, a.Platform, a.Platform, a.PostID)
	}
	order := "c DESC, platform, post_id"
	if e, ok := rankExpr[q.Rank]; ok {
		order = e + " DESC, " + order
	}
	engagement := q.Rank == pulse.RankEngagement
	// Every order but engagement is known before the insights join: the
	// inner query keeps only the page. Engagement needs the followers
	// first (a join of its own around the first: 18.16 runs one JOIN per
	// SELECT).
	inner, innerLimit := order, "\n    LIMIT ?"
	if engagement {
		inner, innerLimit = "c DESC, platform, post_id", ""
	} else {
		args = append(args, q.Limit)
	}
	args = append(args, q.UserID)
	sql := `SELECT platform, account, post_id, c, t, pl, l, cm, sh, v, reach, saves
FROM (
    SELECT platform, argMax(account_id, version) AS account, post_id, argMax(created_at, version) AS c,
           argMax(text, version) AS t, argMax(permalink, version) AS pl, argMax(likes, version) AS l,
           argMax(comments, version) AS cm, argMax(shares, version) AS sh, argMax(views, version) AS v
    FROM posts_current
    WHERE ` + strings.Join(where, " AND ") + `
    GROUP BY platform, post_id` + having + `
    ORDER BY ` + inner + innerLimit + `
) AS latest ANY LEFT JOIN (
    SELECT platform, post_id, argMax(reach, version) AS reach, argMax(saves, version) AS saves
    FROM post_insights
    WHERE user_id = ?
    GROUP BY platform, post_id
) AS insights USING (platform, post_id)`
	if !engagement {
		args = append(args, q.Limit)
		return statement{sql: strings.Replace(sql, "reach, saves\n", "reach, saves, toFloat64(0) AS rate\n", 1) + `
ORDER BY ` + order + `
LIMIT ?`, args: args}
	}
	args = append(args, q.UserID, q.Limit)
	return statement{sql: `SELECT platform, account, post_id, c, t, pl, l, cm, sh, v, reach, saves, if(fol > 0, (l + cm + sh) / fol, 0) AS rate
FROM (
` + sql + `
) AS page ANY LEFT JOIN (
    SELECT platform, account_id AS account, argMax(followers, version) AS fol
    FROM account_metrics_hourly
    WHERE user_id = ?
    GROUP BY platform, account_id
) AS accounts USING (platform, account)
ORDER BY ` + order + `
LIMIT ?`, args: args}
}

// postHistorySQL reads one post's counters per hour from posts (its key
// is the post's identity then the hour).
func postHistorySQL(q pulse.PostHistoryQuery) statement {
	return statement{sql: `SELECT hour, argMax(likes, version), argMax(comments, version), argMax(shares, version), argMax(views, version)
FROM posts
WHERE user_id = ? AND platform = ? AND post_id = ? AND hour >= ? AND hour < ?
GROUP BY hour
ORDER BY hour`, args: []any{q.UserID, q.Platform, q.PostID, q.From.UTC(), q.To.UTC()}}
}

// PostHistory returns one post's counters at the latest observation of
// each hour in [q.From, q.To) that observed it, oldest first.
func (db *DB) PostHistory(ctx context.Context, q pulse.PostHistoryQuery) ([]pulse.PostPoint, error) {
	if q.UserID == "" || q.Platform == "" || q.PostID == "" {
		return nil, fmt.Errorf("clickhouse: post history: user, platform and post id required")
	}
	var out []pulse.PostPoint
	if err := db.query(ctx, postHistorySQL(q), func(s scanner) error {
		var p pulse.PostPoint
		if err := s.Scan(&p.Hour, &p.Likes, &p.Comments, &p.Shares, &p.Views); err != nil {
			return err
		}
		p.Hour = p.Hour.UTC()
		out = append(out, p)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("clickhouse: post history: %w", err)
	}
	return out, nil
}

// Feed returns the user's posts across platforms, newest first or ranked
// by a counter (q.Rank), each with its latest counters.
func (db *DB) Feed(ctx context.Context, q pulse.FeedQuery) ([]pulse.PostRow, error) {
	if q.UserID == "" {
		return nil, fmt.Errorf("clickhouse: feed: user id required")
	}
	var out []pulse.PostRow
	if err := db.query(ctx, feedSQL(q), func(s scanner) error {
		p, err := scanPostRow(s)
		out = append(out, p)
		return err
	}); err != nil {
		return nil, fmt.Errorf("clickhouse: feed: %w", err)
	}
	return out, nil
}

// UserTables lists every table holding per-user rows: the observation
// tables, the feed table and every rollup. DeleteUser purges all of them.
var UserTables = []string{
	"account_metrics_hourly", "posts", "posts_current",
	"account_metrics_daily", "account_metrics_monthly", "account_metrics_yearly",
	"post_metrics_daily", "post_metrics_monthly", "post_metrics_yearly",
	"account_insights_hourly", "post_insights",
}

// Purge implements pulse.AnalyticsPurger: DeleteUser of req.UserID (every
// ClickHouse row carries its user).
func (db *DB) Purge(ctx context.Context, req pulse.PurgeRequest) error {
	return db.DeleteUser(ctx, req.UserID)
}

// mutationPoll is how often DeleteUser checks whether its mutations are
// done.
const mutationPoll = 50 * time.Millisecond

// DeleteUser removes every row of userID from every table and rollup, and
// returns once ClickHouse has applied the deletions (ALTER ... DELETE
// mutations run asynchronously) or ctx ends. Rows of the user written
// while DeleteUser runs may survive it: stop the user's ingestion first
// (unlink the accounts), then delete.
func (db *DB) DeleteUser(ctx context.Context, userID string) error {
	if userID == "" {
		return fmt.Errorf("clickhouse: delete user: user id required")
	}
	// On a cluster the mutations go to every shard's local tables, and the
	// wait covers every replica's mutations.
	mutations, target := "system.mutations", func(t string) string { return quoteIdent(t) }
	if db.cluster != "" {
		mutations = "clusterAllReplicas(" + db.cluster + ", system.mutations)"
		target = func(t string) string { return quoteIdent(t+LocalSuffix) + " ON CLUSTER " + db.cluster }
	}
	for _, t := range UserTables {
		if err := db.conn.Exec(ctx, "ALTER TABLE "+target(t)+" DELETE WHERE user_id = ?", userID); err != nil {
			return fmt.Errorf("clickhouse: delete user from %s: %w", t, translate(err))
		}
	}
	for {
		var pending uint64
		if err := db.conn.QueryRow(ctx, "SELECT count() FROM "+mutations+" WHERE database = ? AND is_done = 0",
			db.database).Scan(&pending); err != nil {
			return fmt.Errorf("clickhouse: delete user: wait for mutations: %w", translate(err))
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("clickhouse: delete user: wait for mutations: %w", ctx.Err())
		case <-time.After(mutationPoll):
		}
	}
}

// CountAccountRows counts the rows of platform account accountID in
// table, one of UserTables, whoever's they are. It is for operators and
// tests (proving an account's data is absent), not for the API.
func (db *DB) CountAccountRows(ctx context.Context, table, accountID string) (uint64, error) {
	if !slices.Contains(UserTables, table) {
		return 0, fmt.Errorf("clickhouse: count account rows: %q is not a user table", table)
	}
	var n uint64
	if err := db.conn.QueryRow(ctx, "SELECT count() FROM "+quoteIdent(table)+" WHERE account_id = ?", accountID).Scan(&n); err != nil {
		return 0, fmt.Errorf("clickhouse: count account rows: %w", translate(err))
	}
	return n, nil
}

// Counts are the numbers of distinct rows by identity: what queries see,
// however many times each row was inserted.
type Counts struct {
	Snapshots uint64 // distinct (user, platform, account, hour)
	Posts     uint64 // distinct (user, platform, post, observed hour)
}

// Count counts the distinct snapshot and post identities of every user. It
// reads whole tables; it is for operators and tests, not for the API.
func (db *DB) Count(ctx context.Context) (Counts, error) {
	var c Counts
	if err := db.conn.QueryRow(ctx, `SELECT
		(SELECT count() FROM (SELECT 1 FROM account_metrics_hourly GROUP BY user_id, platform, account_id, hour)),
		(SELECT count() FROM (SELECT 1 FROM posts GROUP BY user_id, platform, post_id, hour))`).Scan(&c.Snapshots, &c.Posts); err != nil {
		return Counts{}, fmt.Errorf("clickhouse: count: %w", translate(err))
	}
	return c, nil
}

// scanPostRow reads one row of the feed's columns (feedSQL's order).
func scanPostRow(s scanner) (pulse.PostRow, error) {
	var p pulse.PostRow
	err := s.Scan(&p.Platform, &p.AccountID, &p.PostID, &p.CreatedAt, &p.Text, &p.Permalink,
		&p.Likes, &p.Comments, &p.Shares, &p.Views, &p.Reach, &p.Saves, &p.EngagementRate)
	p.CreatedAt = p.CreatedAt.UTC()
	return p, err
}
