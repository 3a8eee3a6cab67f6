package clickhouse

import (
	"context"
	"slices"
	"time"

	"github.com/pulsehq/pulse"
)

// Hour points' post activity, as the posts statement of hourlySeriesSQL
// defines it, in two flat statements and a little Go: on 18.16 a
// statement's fixed cost grows with its nesting (each level analyses the
// levels below it again, and re-runs their scalar subqueries), and the
// one-statement form (a join of each post's history with its observed
// hours, a union with the posts published) cost about three times the
// CPU of these two together, whatever the data.

// postObservations are one post's observations up to the end of the
// range, oldest version first.
type postObservations struct {
	platform, account string
	hours             []time.Time
	versions          []uint64
	likes, comments   []int64
}

// hourlyObservedSQL reads how many observations of posts [from, to) holds
// and the earliest creation among their posts: where hourlyGainsSQL's scan
// starts.
func hourlyObservedSQL(q pulse.SeriesQuery) statement {
	f := seriesFilter(q)
	from, to := q.From.UTC().Truncate(time.Hour), q.To.UTC()
	return statement{sql: `SELECT count(), min(created_at)
FROM posts
WHERE user_id = ? AND hour >= ? AND hour < ?` + f.sql, args: append([]any{q.UserID, from, to}, f.args...)}
}

// gainsScanStart returns where the scan of hourlyGainsSQL starts, from
// hourlyObservedSQL's answer: a post is never observed before it was
// created, so at the hour of the earliest creation among the posts
// observed in the range, less a day for clocks that disagree (the epoch
// for creations in its first two days). ok is false when no post was
// observed in the range: there are no gains to read.
func gainsScanStart(observed uint64, minCreated time.Time) (start time.Time, ok bool) {
	if observed == 0 {
		return time.Time{}, false
	}
	if minCreated.Unix() <= 172800 {
		return time.Unix(0, 0).UTC(), true
	}
	return minCreated.UTC().Truncate(time.Hour).Add(-24 * time.Hour), true
}

// hourlyGainsSQL reads, for each post observed in [from, to), its
// observations in [start, to), as arrays (start: gainsScanStart). It reads
// the partitions from start on only, not the user's whole history. The
// bound is computed by a statement of its own rather than a scalar
// subquery: on 18.16 the subquery form cost 7-8 ms of server CPU, the two
// flat statements 2 + 3.
func hourlyGainsSQL(q pulse.SeriesQuery, start time.Time) statement {
	f := seriesFilter(q)
	from, to := q.From.UTC().Truncate(time.Hour), q.To.UTC()
	args := append([]any{q.UserID, to, start.UTC()}, f.args...)
	args = append(args, from)
	return statement{sql: `SELECT platform, account_id, groupArray(hour), groupArray(version), groupArray(likes), groupArray(comments)
FROM posts
WHERE user_id = ? AND hour < ? AND hour >= ?` + f.sql + `
GROUP BY platform, account_id, post_id
HAVING max(hour) >= ?`, args: args}
}

// hourlyPublishedSQL counts the posts created in each hour of [from, to).
func hourlyPublishedSQL(q pulse.SeriesQuery) statement {
	f := seriesFilter(q)
	from, to := q.From.UTC().Truncate(time.Hour), q.To.UTC()
	return statement{sql: `SELECT platform, account_id, toStartOfHour(c) AS b, count()
FROM (
    SELECT platform, post_id, argMax(account_id, version) AS account_id, argMax(created_at, version) AS c
    FROM posts_current
    WHERE user_id = ? AND created_at >= ? AND created_at < ?` + f.sql + `
    GROUP BY platform, post_id
)
GROUP BY platform, account_id, b`, args: append([]any{q.UserID, from, to}, f.args...)}
}

// hourlyGains returns, for each account and each hour in [from, to) that
// observed one of its posts, the likes and comments gained: over the posts
// observed in that hour, the counters of the hour's latest observation
// minus those of the latest observation before the hour (0 for none).
func hourlyGains(obs []postObservations, from time.Time) []pulse.Point {
	type key struct {
		platform, account string
		hour              int64
	}
	sums := map[key]*pulse.Point{}
	var order []key
	type last struct {
		version         uint64
		likes, comments int64
	}
	for _, o := range obs {
		// Each observed hour's latest observation (highest version).
		byHour := map[int64]last{}
		for i := range o.hours {
			h := o.hours[i].Unix()
			if l, ok := byHour[h]; !ok || o.versions[i] > l.version {
				byHour[h] = last{o.versions[i], o.likes[i], o.comments[i]}
			}
		}
		hours := make([]int64, 0, len(byHour))
		for h := range byHour {
			hours = append(hours, h)
		}
		slices.Sort(hours)
		// before is the latest observation (highest version) of the hours
		// before h: 0 for none.
		var before last
		for _, h := range hours {
			at := byHour[h]
			if h >= from.Unix() {
				k := key{o.platform, o.account, h}
				p := sums[k]
				if p == nil {
					p = &pulse.Point{Platform: o.platform, AccountID: o.account, Bucket: time.Unix(h, 0).UTC()}
					sums[k] = p
					order = append(order, k)
				}
				p.LikesGained += at.likes - before.likes
				p.CommentsGained += at.comments - before.comments
			}
			if at.version > before.version {
				before = at
			}
		}
	}
	out := make([]pulse.Point, 0, len(order))
	for _, k := range order {
		out = append(out, *sums[k])
	}
	return out
}

// addPostPoints sums post points of the same account and bucket.
func addPostPoints(a, b []pulse.Point) []pulse.Point {
	index := make(map[pointKey]int, len(a))
	out := append([]pulse.Point(nil), a...)
	for i := range out {
		index[keyOf(&out[i])] = i
	}
	for _, p := range b {
		if i, ok := index[keyOf(&p)]; ok {
			out[i].PostsPublished += p.PostsPublished
			out[i].LikesGained += p.LikesGained
			out[i].CommentsGained += p.CommentsGained
			continue
		}
		index[keyOf(&p)] = len(out)
		out = append(out, p)
	}
	return out
}

// hourlyPosts reads hour points' post activity (see hourlySeriesSQL): the
// gains and the posts published, by two statements at once.
func (db *DB) hourlyPosts(ctx context.Context, q pulse.SeriesQuery) ([]pulse.Point, error) {
	var obs []postObservations
	var published []pulse.Point
	done := make(chan error, 1)
	go func() {
		done <- db.query(ctx, hourlyPublishedSQL(q), func(s scanner) error {
			var p pulse.Point
			if err := s.Scan(&p.Platform, &p.AccountID, &p.Bucket, &p.PostsPublished); err != nil {
				return err
			}
			p.Bucket = p.Bucket.UTC()
			published = append(published, p)
			return nil
		})
	}()
	var observed uint64
	var minCreated time.Time
	err := db.query(ctx, hourlyObservedSQL(q), func(s scanner) error { return s.Scan(&observed, &minCreated) })
	if start, ok := gainsScanStart(observed, minCreated); ok && err == nil {
		err = db.query(ctx, hourlyGainsSQL(q, start), func(s scanner) error {
			var o postObservations
			if err := s.Scan(&o.platform, &o.account, &o.hours, &o.versions, &o.likes, &o.comments); err != nil {
				return err
			}
			obs = append(obs, o)
			return nil
		})
	}
	if perr := <-done; err == nil {
		err = perr
	}
	if err != nil {
		return nil, err
	}
	return addPostPoints(hourlyGains(obs, q.From.UTC().Truncate(time.Hour)), published), nil
}
