package clickhouse

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pulsehq/pulse"
)

// Trends returns the metric's trend over all the selected accounts (the
// first, Platform "") and over each platform's accounts. Everything is
// computed in ClickHouse from the rollups (the hourly table at hour
// grain), reading only the metric's, the followers' and the gains'
// columns.
func (db *DB) Trends(ctx context.Context, q pulse.TrendQuery) ([]pulse.Trend, error) {
	st, err := trendSQL(q)
	if err != nil {
		return nil, err
	}
	var out []pulse.Trend
	if err := db.query(ctx, st, func(s scanner) error {
		var r trendRow
		if err := s.Scan(&r.group, &r.buckets, &r.vals, &r.fol, &r.gained, &r.chg, &r.cur, &r.ma, &r.fit, &r.eng,
			&r.value, &r.prev, &r.hasPrev, &r.slope, &r.intercept, &r.r2, &r.best, &r.worst); err != nil {
			return err
		}
		out = append(out, r.trend(q.MetricOrDefault().Level()))
		return nil
	}); err != nil {
		return nil, fmt.Errorf("clickhouse: trends: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Platform < out[j].Platform })
	return out, nil
}

// trendRow is one row of the trend statement: one group's arrays (both
// periods, oldest first) and figures.
type trendRow struct {
	group                  string
	buckets                []time.Time
	vals, fol, gained, chg []int64
	cur                    []uint8
	ma, fit, eng           []float64
	value, prev            int64
	hasPrev                uint8
	slope, intercept, r2   float64
	best, worst            uint64 // 1-based indexes into buckets, 0 for none
}

// trend splits the row's arrays into the two periods.
func (r trendRow) trend(level bool) pulse.Trend {
	t := pulse.Trend{Platform: r.group, Value: r.value, PreviousValue: r.prev, HasPrevious: r.hasPrev == 1,
		SlopePerDay: r.slope, Intercept: r.intercept, R2: r.r2, Best: -1, Worst: -1}
	for i := range r.buckets {
		p := pulse.TrendPoint{Bucket: r.buckets[i].UTC(), Value: r.vals[i], Change: r.chg[i], HasChange: !level || i > 0,
			MovingAvg: r.ma[i], Fit: r.fit[i], Followers: r.fol[i], Gained: r.gained[i], EngagementRate: r.eng[i]}
		if !p.HasChange {
			p.Change = 0
		}
		if r.cur[i] == 0 {
			t.Previous = append(t.Previous, p)
			continue
		}
		if uint64(i+1) == r.best {
			t.Best = len(t.Points)
		}
		if uint64(i+1) == r.worst {
			t.Worst = len(t.Points)
		}
		t.Points = append(t.Points, p)
	}
	return t
}

// trendSQL builds the trend statement. Its layers, innermost first:
//
//  1. each account's bucket values (highest version) in the span: the
//     followers and the level metric, and each account's post flows;
//  2. per account, the level values turned into changes from the
//     account's previous bucket (the first bucket's change is its value),
//     so that summing changes over accounts and then accumulating them
//     over buckets carries each account's last value forward;
//  3. per group (each platform, and "" for all) and bucket, the sums;
//  4. per group, the bucket arrays in time order and everything computed
//     from them: running totals, the moving average, the period
//     split, the least-squares fit, the best and worst bucket.
//
// No window functions: arrays (groupArray, arrayCumSum, arrayMap) do what
// they would, on ClickHouse 18.16 and current releases alike.
func trendSQL(q pulse.TrendQuery) (statement, error) {
	if q.UserID == "" {
		return statement{}, fmt.Errorf("clickhouse: trends: user id required")
	}
	m := q.MetricOrDefault()
	if !m.Valid() {
		return statement{}, fmt.Errorf("clickhouse: trends: unknown metric %q", m)
	}
	w := q.Window
	if w == 0 {
		w = pulse.DefaultTrendWindow
	}
	if w < 1 || w > pulse.MaxTrendWindow {
		return statement{}, fmt.Errorf("clickhouse: trends: window must be between 1 and %d buckets", pulse.MaxTrendWindow)
	}
	spanFrom, from, _, err := pulse.TrendSpan(q.Grain, q.From, q.To)
	if err != nil {
		return statement{}, fmt.Errorf("clickhouse: trends: %w", err)
	}
	to := q.To.UTC()
	f := seriesFilter(pulse.SeriesQuery{Platforms: q.Platforms})

	level := "toInt64(0)"
	if m.Level() {
		level = "argMax(" + string(m) + ", version)"
	}
	var accounts, flows statement
	if q.Grain == pulse.GrainHour {
		accounts = statement{sql: `SELECT platform, account_id, hour AS b, argMax(followers, version) AS f, ` + level + ` AS v
        FROM account_metrics_hourly
        WHERE user_id = ? AND hour >= ? AND hour < ?` + f.sql + `
        GROUP BY platform, account_id, hour`, args: append([]any{q.UserID, spanFrom, to}, f.args...)}
		hp := hourlySeriesSQL(pulse.SeriesQuery{UserID: q.UserID, Grain: pulse.GrainHour, From: spanFrom, To: to, Platforms: q.Platforms})[1]
		flows = statement{sql: `SELECT platform, b, toInt64(0) AS df, toInt64(0) AS dv, toInt64(e_lg) AS l,
           toInt64(e_cg) AS c, toInt64(e_pub) AS pub
    FROM (` + hp.sql + `)`,
			args: hp.args}
	} else {
		acctTable, postTable, col, err := rollupTables(q.Grain)
		if err != nil {
			return statement{}, err
		}
		r := strings.NewReplacer("$col", col, "$acct", acctTable, "$posts", postTable, "$filter", f.sql, "$level", level)
		args := append([]any{q.UserID, dateArg(spanFrom), dateArg(to)}, f.args...)
		accounts = statement{sql: r.Replace(`SELECT platform, account_id, toDateTime($col, 'UTC') AS b,
               argMax(followers, version) AS f, $level AS v
        FROM $acct
        WHERE user_id = ? AND $col >= ? AND $col < ?$filter
        GROUP BY platform, account_id, $col`), args: args}
		flows = statement{sql: r.Replace(`SELECT platform, toDateTime($col, 'UTC') AS b, toInt64(0) AS df, toInt64(0) AS dv,
           toInt64(argMax(likes_gained, version)) AS l, toInt64(argMax(comments_gained, version)) AS c,
           toInt64(argMax(posts_published, version)) AS pub
    FROM $posts
    WHERE user_id = ? AND $col >= ? AND $col < ?$filter
    GROUP BY platform, account_id, $col`), args: args}
	}

	var vals, change string
	switch m {
	case pulse.MetricPostsPublished:
		vals = "arrayMap(r -> r.6, t)"
	case pulse.MetricLikesGained:
		vals = "arrayMap(r -> r.4, t)"
	case pulse.MetricCommentsGained:
		vals = "arrayMap(r -> r.5, t)"
	default:
		vals = "arrayCumSum(arrayMap(r -> r.3, t))"
	}
	valueExpr, prevExpr, hasPrevExpr := "arraySum(cy)", "arraySum(py)", "toUInt8(1)"
	if m.Level() {
		change = "arrayMap(i -> vals[i] - if(i = 1, 0, vals[i - 1]), arrayEnumerate(vals))"
		valueExpr, prevExpr, hasPrevExpr = "if(n > 0, cy[n], 0)", "if(length(py) > 0, py[length(py)], 0)", "toUInt8(length(py) > 0)"
	} else {
		change = "vals"
	}
	first := "1"
	if m.Level() {
		first = "2"
	}
	var bucketNum string
	switch q.Grain {
	case pulse.GrainHour:
		bucketNum = "intDiv(toUInt32(x), 3600)"
	case pulse.GrainDay:
		bucketNum = "intDiv(toUInt32(x), 86400)"
	case pulse.GrainMonth:
		bucketNum = "toYear(x) * 12 + toMonth(x)"
	default:
		bucketNum = "toYear(x)"
	}
	r := strings.NewReplacer("$vals", vals, "$change", change, "$bucketNum", bucketNum, "$first", first,
		"$value", valueExpr, "$prev", prevExpr, "$hasPrev", hasPrevExpr,
		"$accounts", accounts.sql, "$flows", flows.sql)
	sql := r.Replace(`SELECT g, bs, vals, fol, gained, chg, cur, ma, fit, eng,
       $value AS value, $prev AS prev, $hasPrev AS has_prev, slope, intercept, r2, best, worst
FROM (
    SELECT g,
           arraySort(groupArray((b, df, dv, l, c, pub))) AS t,
           arrayMap(r -> r.1, t) AS bs,
           $vals AS vals,
           arrayCumSum(arrayMap(r -> r.2, t)) AS fol,
           arrayMap(r -> r.4 + r.5, t) AS gained,
           $change AS chg,
           arrayMap(x -> toUInt8(x >= ?), bs) AS cur,
           arrayMap(x -> $bucketNum, bs) AS ks,
           arrayMap(x -> (toInt64(toUInt32(x)) - ?) / 86400, bs) AS xs,
           arrayMap(i -> arrayReduce('avg', arrayFilter((v, k) -> k > ks[i] - ? AND k <= ks[i], vals, ks)), arrayEnumerate(vals)) AS ma,
           arrayMap((gn, fl) -> if(fl > 0, gn / fl, 0), gained, fol) AS eng,
           arrayFilter((x, c) -> c = 1, xs, cur) AS cx,
           arrayFilter((v, c) -> c = 1, vals, cur) AS cy,
           arrayFilter((v, c) -> c = 0, vals, cur) AS py,
           length(cy) AS n,
           arrayReduce('avg', cx) AS mx,
           arrayReduce('avg', cy) AS my,
           arraySum(arrayMap((x, y) -> (x - mx) * (y - my), cx, cy)) AS sxy,
           arraySum(arrayMap(x -> (x - mx) * (x - mx), cx)) AS sxx,
           arraySum(arrayMap(y -> (y - my) * (y - my), cy)) AS syy,
           if(n > 1 AND sxx > 0, sxy / sxx, 0) AS slope,
           if(n > 0, my - slope * mx, 0) AS intercept,
           if(n < 2, 0, if(syy = 0, 1, sxy * sxy / (sxx * syy))) AS r2,
           arrayMap(x -> intercept + slope * x, xs) AS fit,
           arrayFilter(i -> cur[i] = 1 AND i >= $first, arrayEnumerate(bs)) AS ci,
           arrayMap(i -> chg[i], ci) AS cc,
           toUInt64(if(length(ci) > 0, ci[indexOf(cc, arrayReduce('max', cc))], 0)) AS best,
           toUInt64(if(length(ci) > 0, ci[indexOf(cc, arrayReduce('min', cc))], 0)) AS worst
    FROM (
        SELECT g, b, sum(df) AS df, sum(dv) AS dv, sum(l) AS l, sum(c) AS c, sum(pub) AS pub
        FROM (
            SELECT platform, d.1 AS b, d.2 AS df, d.3 AS dv, toInt64(0) AS l, toInt64(0) AS c, toInt64(0) AS pub
            FROM (
                SELECT platform, account_id, arraySort(groupArray((b, f, v))) AS t
                FROM ($accounts)
                GROUP BY platform, account_id
            )
            ARRAY JOIN arrayMap(i -> (t[i].1, t[i].2 - if(i = 1, 0, t[i - 1].2), t[i].3 - if(i = 1, 0, t[i - 1].3)), arrayEnumerate(t)) AS d
            UNION ALL
            $flows
        )
        ARRAY JOIN [platform, ''] AS g
        GROUP BY g, b
    )
    GROUP BY g
)`)
	args := []any{from, from.Unix(), w}
	args = append(args, accounts.args...)
	args = append(args, flows.args...)
	return statement{sql: sql, args: args}, nil
}
