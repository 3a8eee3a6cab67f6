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

// hourlyGainsSQL reads, for each post observed in [from, to), its
// observations before to, as arrays. A post is never observed before it
// was created, so the scan starts at the hour of the earliest creation
// among the posts observed in the range, less a day for clocks that
// disagree (and reads nothing when none was observed): it reads those
// partitions only, not the user's whole history.
func hourlyGainsSQL(q pulse.SeriesQuery) statement {
	f := seriesFilter(q)
	from, to := q.From.UTC().Truncate(time.Hour), q.To.UTC()
	args := []any{q.UserID, to, to, q.UserID, from, to}
	args = append(args, f.args...)
	args = append(args, f.args...)
	args = append(args, from)
	return statement{sql: `SELECT platform, account_id, groupArray(hour), groupArray(version), groupArray(likes), groupArray(comments)
FROM posts
WHERE user_id = ? AND hour < ?
  AND hour >= (SELECT if(count() = 0, ?, if(min(created_at) > toDateTime(172800), toStartOfHour(min(created_at)) - 86400, toDateTime(0)))
               FROM posts WHERE user_id = ? AND hour >= ? AND hour < ?` + f.sql + `)` + f.sql + `
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
	err := db.query(ctx, hourlyGainsSQL(q), func(s scanner) error {
		var o postObservations
		if err := s.Scan(&o.platform, &o.account, &o.hours, &o.versions, &o.likes, &o.comments); err != nil {
			return err
		}
		obs = append(obs, o)
		return nil
	})
	if perr := <-done; err == nil {
		err = perr
	}
	if err != nil {
		return nil, err
	}
	return addPostPoints(hourlyGains(obs, q.From.UTC().Truncate(time.Hour)), published), nil
}
