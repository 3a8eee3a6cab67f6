package clickhouse

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/ext"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// Rollups are recomputed, not accumulated: after every insert, each
// (user, platform, account, day) bucket the insert touched is recomputed
// from the deduplicated source rows and written as a new version of the
// bucket's row, then each month of those days from the daily rows, then
// each year from the monthly rows. See docs/olap.md for why this is exact
// under duplicates, replays and concurrent writers.

// dayKey names one daily bucket of one account.
type dayKey struct {
	user, platform, account string
	day                     time.Time // midnight UTC
}

func utcDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// snapshotBuckets returns the daily buckets the snapshots fall in.
func snapshotBuckets(snaps []topics.AccountSnapshot) map[dayKey]struct{} {
	out := make(map[dayKey]struct{})
	for i := range snaps {
		s := &snaps[i]
		out[dayKey{s.UserID, string(s.Platform), s.AccountID, utcDay(s.Hour)}] = struct{}{}
	}
	return out
}

// postObservation names the day of one observation of one post.
type postObservation struct {
	user, platform, post string
	day                  time.Time
}

// postKeys are what an insert of posts needs recomputed: the daily buckets
// of each post's creation day (posts_published) and of each observation's
// day (its gains), and the observed (post, day) pairs, whose later days are
// looked up by postBuckets.
type postKeys struct {
	days    map[dayKey]struct{}
	obs     map[postObservation]struct{}
	minHour time.Time // the earliest observation
}

func (k *postKeys) empty() bool { return len(k.days) == 0 && len(k.obs) == 0 }

func (k *postKeys) add(posts []topics.Post) {
	if len(posts) == 0 {
		return
	}
	if k.days == nil {
		k.days, k.obs = map[dayKey]struct{}{}, map[postObservation]struct{}{}
	}
	for i := range posts {
		p := &posts[i]
		k.days[dayKey{p.UserID, string(p.Platform), p.AccountID, utcDay(p.CreatedAt)}] = struct{}{}
		k.days[dayKey{p.UserID, string(p.Platform), p.AccountID, utcDay(p.ObservedAt)}] = struct{}{}
		k.obs[postObservation{p.UserID, string(p.Platform), p.PostID, utcDay(p.ObservedAt)}] = struct{}{}
		if o := p.ObservedAt.UTC(); k.minHour.IsZero() || o.Before(k.minHour) {
			k.minHour = o
		}
	}
}

func (k *postKeys) merge(o *postKeys) {
	if o.empty() {
		return
	}
	if k.days == nil {
		k.days, k.obs = map[dayKey]struct{}{}, map[postObservation]struct{}{}
	}
	for d := range o.days {
		k.days[d] = struct{}{}
	}
	for ob := range o.obs {
		k.obs[ob] = struct{}{}
	}
	if k.minHour.IsZero() || o.minHour.Before(k.minHour) {
		k.minHour = o.minHour
	}
}

// postBuckets returns the daily post-metric buckets an insert of posts
// touches: the day each post was created (posts_published), the day of each
// observation (its gains), and, for a post that was also observed on a
// later day, the first such day, whose gain is counted from the last
// observation before it and so may just have changed (an observation that
// arrived out of order). The later days are looked up in the posts table,
// so call it after the posts are stored.
func (db *DB) postBuckets(ctx context.Context, k *postKeys) (map[dayKey]struct{}, error) {
	if k.empty() {
		return nil, nil
	}
	out := make(map[dayKey]struct{}, len(k.days))
	for d := range k.days {
		out[d] = struct{}{}
	}
	t, err := ext.NewTable("inserted",
		ext.Column("user_id", "String"), ext.Column("platform", "String"),
		ext.Column("post_id", "String"), ext.Column("d", "Date"))
	if err != nil {
		return nil, fmt.Errorf("clickhouse: post buckets: %w", err)
	}
	for o := range k.obs {
		if err := t.Append(o.user, o.platform, o.post, o.day); err != nil {
			return nil, fmt.Errorf("clickhouse: post buckets: %w", err)
		}
	}
	rows, err := db.conn.Query(ch.Context(ctx, ch.WithExternalTable(t)), laterObservationsSQL, utcDay(k.minHour))
	if err != nil {
		return nil, fmt.Errorf("clickhouse: post buckets: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var d dayKey
		if err := rows.Scan(&d.user, &d.platform, &d.account, &d.day); err != nil {
			return nil, fmt.Errorf("clickhouse: post buckets: %w", translate(err))
		}
		d.day = d.day.UTC()
		out[d] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clickhouse: post buckets: %w", translate(err))
	}
	return out, nil
}

// laterObservationsSQL finds, for each (post, day) in the external table
// "inserted", the first later day the post was observed on. Argument: the
// earliest inserted day (prunes the scan). The join alone keeps the
// inserted posts: a filter (user_id, platform, post_id) IN inserted would
// drop no row the join keeps, and on 18.16 a set of that key prefix is
// also built (sorted) for the primary key analysis, which costs more than
// the scan it prunes when a batch holds many posts (a backlog, a replay).
const laterObservationsSQL = `SELECT user_id, platform, account_id, min(od) AS next_day
FROM (
    SELECT user_id, platform, post_id, account_id, toDate(hour) AS od
    FROM posts
    WHERE user_id IN (SELECT user_id FROM inserted)
      AND hour >= ?
) AS observations ALL INNER JOIN inserted USING (user_id, platform, post_id)
WHERE od > d
GROUP BY user_id, platform, account_id, post_id, d`

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// rollupLevel is one grain of a rollup family, with the statement that
// recomputes its buckets for the days in the external table "affected" and
// the span of days those buckets cover.
type rollupLevel struct {
	grain pulse.Grain
	sql   string
	// span widens [first, last] affected day to the source range to scan.
	span func(first, last time.Time) (from, to time.Time)
}

func daySpan(first, last time.Time) (time.Time, time.Time) { return first, last.AddDate(0, 0, 1) }
func monthSpan(first, last time.Time) (time.Time, time.Time) {
	return startOfMonth(first), startOfMonth(last).AddDate(0, 1, 0)
}
func yearSpan(first, last time.Time) (time.Time, time.Time) {
	return startOfYear(first), startOfYear(last).AddDate(1, 0, 0)
}
func startOfMonth(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}
func startOfYear(t time.Time) time.Time { return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC) }

// accountRollupColumns are the value columns of account_metrics_{daily,
// monthly,yearly}, in this order.
const accountRollupColumns = `handle, followers, followers_min, followers_max, followers_sum, following, posts_count, hours, version`

// accountDailySQL recomputes daily account buckets from the hourly table:
// each hour's highest version first (FINAL: the table's identity is its
// sorting key, and every condition below is on key columns, so filtering
// before or after the deduplication is the same), then last/min/max/sum/
// count over the day's hours. FINAL replaced a GROUP BY of each hour with
// argMax by version (the same rows; on 18.16 about 40 % less server CPU,
// measured 2026-11-30 on the replay's 144,000 hourly rows, with and
// without duplicate versions). Arguments: the hour range to scan.
const accountDailySQL = `INSERT INTO account_metrics_daily (user_id, platform, account_id, day, ` + accountRollupColumns + `)
SELECT user_id, platform, account_id, toDate(hour) AS bucket_day,
       argMax(handle, hour), argMax(followers, hour), min(followers), max(followers), sum(followers),
       argMax(following, hour), argMax(posts_count, hour), count(), sum(version)
FROM account_metrics_hourly FINAL
WHERE user_id IN (SELECT user_id FROM affected)
  AND hour >= ? AND hour < ?
  AND (user_id, platform, account_id, toDate(hour)) IN (SELECT user_id, platform, account_id, bucket FROM affected)
GROUP BY user_id, platform, account_id, bucket_day`

// accountRollupFromSQL recomputes the buckets of target (bucket column
// tcol, bucket function fn) from the finer rollup source (bucket column
// scol): each source bucket's highest version, then combined. Arguments:
// the source bucket range to scan.
func accountRollupFromSQL(target, tcol, source, scol, fn string) string {
	r := strings.NewReplacer("$target", target, "$tcol", tcol, "$source", source, "$scol", scol, "$fn", fn)
	return r.Replace(`INSERT INTO $target (user_id, platform, account_id, $tcol, ` + accountRollupColumns + `)
SELECT user_id, platform, account_id, $fn(src_bucket) AS dst_bucket,
       argMax(h, src_bucket), argMax(f, src_bucket), min(fmin), max(fmax), sum(fsum),
       argMax(g, src_bucket), argMax(pc, src_bucket), sum(n), sum(v)
FROM (
    SELECT user_id, platform, account_id, $scol AS src_bucket,
           argMax(handle, version) AS h, argMax(followers, version) AS f,
           argMax(followers_min, version) AS fmin, argMax(followers_max, version) AS fmax,
           argMax(followers_sum, version) AS fsum, argMax(following, version) AS g,
           argMax(posts_count, version) AS pc, argMax(hours, version) AS n, max(version) AS v
    FROM $source
    WHERE user_id IN (SELECT user_id FROM affected)
      AND $scol >= ? AND $scol < ?
      AND (user_id, platform, account_id, $fn($scol)) IN (SELECT user_id, platform, account_id, $fn(bucket) FROM affected)
    GROUP BY user_id, platform, account_id, $scol
)
GROUP BY user_id, platform, account_id, dst_bucket`)
}

// postDailySQL recomputes daily post buckets. The first branch counts each
// post observed on an affected day: its last counters of that day minus its
// last counters before that day (0 when it was not observed before). The
// second counts posts created on an affected day. Arguments: the end of the
// observed hour range (the history's end), the observed hour range, then
// the creation range.
//
// The history is the affected users' observations, kept to the observed
// posts by the join alone. It was also filtered by (user_id, platform,
// post_id) IN the observed posts, which drops no row the join keeps and
// cost more than the rest of the statement when many posts were observed
// (a backlog, a replay: 18.16 builds and sorts that set for the primary key
// analysis; measured 2026-11-30 on the replay's 293,720 posts: 0.68 s of
// server CPU with it, 0.36 s without, the same rows).
const postDailySQL = `INSERT INTO post_metrics_daily (user_id, platform, account_id, day, posts_published, likes_gained, comments_gained, version)
SELECT user_id, platform, account_id, bucket_day, sum(pub), sum(dl), sum(dc), sum(v)
FROM (
    SELECT user_id, platform, account_id, bucket_day, toUInt64(0) AS pub,
           argMaxIf(likes, version, toDate(hour) = bucket_day) - argMaxIf(likes, version, toDate(hour) < bucket_day) AS dl,
           argMaxIf(comments, version, toDate(hour) = bucket_day) - argMaxIf(comments, version, toDate(hour) < bucket_day) AS dc,
           maxIf(version, toDate(hour) = bucket_day) + maxIf(version, toDate(hour) < bucket_day) AS v
    FROM (
        SELECT user_id, platform, post_id, account_id, hour, likes, comments, version
        FROM posts
        WHERE user_id IN (SELECT user_id FROM affected)
          AND hour < ?
    ) AS history ALL INNER JOIN (
        SELECT DISTINCT user_id, platform, post_id, toDate(hour) AS bucket_day
        FROM posts
        WHERE user_id IN (SELECT user_id FROM affected) AND hour >= ? AND hour < ?
          AND (user_id, platform, account_id, toDate(hour)) IN (SELECT user_id, platform, account_id, bucket FROM affected)
    ) AS observed USING (user_id, platform, post_id)
    WHERE toDate(hour) <= bucket_day
    GROUP BY user_id, platform, account_id, post_id, bucket_day
    UNION ALL
    SELECT user_id, platform, account_id, toDate(c) AS bucket_day, toUInt64(1) AS pub, toInt64(0) AS dl, toInt64(0) AS dc, v
    FROM (
        SELECT user_id, platform, post_id, argMax(account_id, version) AS account_id,
               argMax(created_at, version) AS c, max(version) AS v
        FROM posts_current
        WHERE user_id IN (SELECT user_id FROM affected) AND created_at >= ? AND created_at < ?
        GROUP BY user_id, platform, post_id
    )
    WHERE (user_id, platform, account_id, toDate(c)) IN (SELECT user_id, platform, account_id, bucket FROM affected)
)
GROUP BY user_id, platform, account_id, bucket_day`

// postRollupFromSQL recomputes coarser post buckets by summing the finer
// ones (gains telescope: a month's gain is the sum of its days' gains).
func postRollupFromSQL(target, tcol, source, scol, fn string) string {
	r := strings.NewReplacer("$target", target, "$tcol", tcol, "$source", source, "$scol", scol, "$fn", fn)
	return r.Replace(`INSERT INTO $target (user_id, platform, account_id, $tcol, posts_published, likes_gained, comments_gained, version)
SELECT user_id, platform, account_id, $fn(src_bucket) AS dst_bucket, sum(p), sum(l), sum(c), sum(v)
FROM (
    SELECT user_id, platform, account_id, $scol AS src_bucket,
           argMax(posts_published, version) AS p, argMax(likes_gained, version) AS l,
           argMax(comments_gained, version) AS c, max(version) AS v
    FROM $source
    WHERE user_id IN (SELECT user_id FROM affected)
      AND $scol >= ? AND $scol < ?
      AND (user_id, platform, account_id, $fn($scol)) IN (SELECT user_id, platform, account_id, $fn(bucket) FROM affected)
    GROUP BY user_id, platform, account_id, $scol
)
GROUP BY user_id, platform, account_id, dst_bucket`)
}

var (
	accountLevels = []rollupLevel{
		{pulse.GrainDay, accountDailySQL, daySpan},
		{pulse.GrainMonth, accountRollupFromSQL("account_metrics_monthly", "month", "account_metrics_daily", "day", "toStartOfMonth"), monthSpan},
		{pulse.GrainYear, accountRollupFromSQL("account_metrics_yearly", "year", "account_metrics_monthly", "month", "toStartOfYear"), yearSpan},
	}
	postLevels = []rollupLevel{
		{pulse.GrainDay, postDailySQL, daySpan},
		{pulse.GrainMonth, postRollupFromSQL("post_metrics_monthly", "month", "post_metrics_daily", "day", "toStartOfMonth"), monthSpan},
		{pulse.GrainYear, postRollupFromSQL("post_metrics_yearly", "year", "post_metrics_monthly", "month", "toStartOfYear"), yearSpan},
	}
)

// refreshAccountRollups recomputes the account-metric buckets of keys at
// every grain, finest first.
func (db *DB) refreshAccountRollups(ctx context.Context, keys map[dayKey]struct{}) error {
	return db.refresh(ctx, "account rollups", accountLevels, keys, func(from, to time.Time) []any { return []any{from, to} })
}

// refreshPostRollups recomputes the post-metric buckets of keys at every
// grain, finest first.
func (db *DB) refreshPostRollups(ctx context.Context, keys map[dayKey]struct{}) error {
	return db.refresh(ctx, "post rollups", postLevels, keys, postDailyArgs)
}

// postDailyArgs are postDailySQL's arguments for the day range [from, to).
func postDailyArgs(from, to time.Time) []any { return []any{to, from, to, from, to} }

// refresh runs each level's statement with the keys as the external table
// "affected". dailyArgs builds the daily statement's arguments from its
// range; coarser levels take (from, to).
func (db *DB) refresh(ctx context.Context, what string, levels []rollupLevel, keys map[dayKey]struct{},
	dailyArgs func(from, to time.Time) []any) error {
	if len(keys) == 0 {
		return nil
	}
	defer observeRollup(what, time.Now())
	sorted := make([]dayKey, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].day.Before(sorted[j].day) })
	// In chunks of at most maxRollupKeys, oldest days first, each through
	// every level: one statement's work stays bounded however large the
	// backlog (a replay of years), so no statement outlasts the driver's
	// read timeout and then fails again, bigger, on every retry. A month
	// or year split over two chunks is recomputed by both, the later one
	// last, from every day the earlier chunks recomputed.
	for len(sorted) > 0 {
		n := min(len(sorted), maxRollupKeys)
		if err := db.refreshChunk(ctx, what, levels, sorted[:n], dailyArgs); err != nil {
			return err
		}
		sorted = sorted[n:]
	}
	return nil
}

// maxRollupKeys is the most day buckets one rollup statement recomputes.
var maxRollupKeys = 20_000

// refreshChunk recomputes the buckets of sorted (ordered by day) at every
// level, finest first.
func (db *DB) refreshChunk(ctx context.Context, what string, levels []rollupLevel, sorted []dayKey,
	dailyArgs func(from, to time.Time) []any) error {
	first, last := sorted[0].day, sorted[len(sorted)-1].day
	for _, lv := range levels {
		// A fresh table per statement: the driver consumes it when sending.
		t, err := affectedTable(sorted)
		if err != nil {
			return fmt.Errorf("clickhouse: %s: %w", what, err)
		}
		from, to := lv.span(first, last)
		// Coarser levels scan Date columns: pass dates as 'YYYY-MM-DD'
		// (18.16 compares Date with a DateTime argument wrongly).
		args := []any{dateArg(from), dateArg(to)}
		if lv.grain == pulse.GrainDay {
			args = dailyArgs(from, to)
		}
		if err := db.conn.Exec(ch.Context(ctx, ch.WithExternalTable(t)), lv.sql, args...); err != nil {
			return fmt.Errorf("clickhouse: %s (%s): %w", what, lv.grain, translate(err))
		}
	}
	return nil
}

// dateArg renders t's UTC date for comparison with a Date column.
func dateArg(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func affectedTable(keys []dayKey) (*ext.Table, error) {
	t, err := ext.NewTable("affected",
		ext.Column("user_id", "String"), ext.Column("platform", "String"),
		ext.Column("account_id", "String"), ext.Column("bucket", "Date"))
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := t.Append(k.user, k.platform, k.account, k.day); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// rebuildChunk bounds the buckets recomputed per statement by
// RebuildRollups.
const rebuildChunk = 20000

// RebuildRollups recomputes every rollup bucket from the hourly and post
// tables. Migrate runs it once when the rollup tables are created; it is
// also safe to run at any time (for example after restoring the source
// tables from a backup), concurrently with writes.
func (db *DB) RebuildRollups(ctx context.Context) error {
	for _, fam := range []struct {
		what, keysSQL string
		refresh       func(context.Context, map[dayKey]struct{}) error
	}{
		{"account", `SELECT DISTINCT user_id, platform, account_id, toDate(hour) FROM account_metrics_hourly`, db.refreshAccountRollups},
		{"post", `SELECT DISTINCT user_id, platform, account_id, toDate(hour) FROM posts
			UNION ALL SELECT DISTINCT user_id, platform, account_id, toDate(created_at) FROM posts_current`, db.refreshPostRollups},
	} {
		keys, err := db.dayKeys(ctx, fam.keysSQL)
		if err != nil {
			return fmt.Errorf("clickhouse: rebuild %s rollups: %w", fam.what, err)
		}
		// Each chunk is a complete recomputation of its buckets (a month
		// split across chunks is recomputed by each, the last with every
		// day), so stopping half-way and running again is fine.
		sort.Slice(keys, func(i, j int) bool { return keys[i].user < keys[j].user })
		for len(keys) > 0 {
			n := min(rebuildChunk, len(keys))
			chunk := make(map[dayKey]struct{}, n)
			for _, k := range keys[:n] {
				chunk[k] = struct{}{}
			}
			if err := fam.refresh(ctx, chunk); err != nil {
				return fmt.Errorf("clickhouse: rebuild %s rollups: %w", fam.what, err)
			}
			keys = keys[n:]
		}
	}
	return nil
}

func (db *DB) dayKeys(ctx context.Context, query string) ([]dayKey, error) {
	rows, err := db.conn.Query(ctx, query)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []dayKey
	for rows.Next() {
		var k dayKey
		if err := rows.Scan(&k.user, &k.platform, &k.account, &k.day); err != nil {
			return nil, translate(err)
		}
		k.day = k.day.UTC()
		out = append(out, k)
	}
	return out, translate(rows.Err())
}
