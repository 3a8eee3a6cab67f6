package pulse

import (
	"context"
	"fmt"
	"time"
)

// Metric names a number a trend follows.
type Metric string

// Level metrics are counts at a moment (an account's last hourly value in a
// bucket); flow metrics count what happened during a bucket.
const (
	MetricFollowers      Metric = "followers"       // level
	MetricFollowing      Metric = "following"       // level
	MetricPostsCount     Metric = "posts_count"     // level
	MetricPostsPublished Metric = "posts_published" // flow
	MetricLikesGained    Metric = "likes_gained"    // flow
	MetricCommentsGained Metric = "comments_gained" // flow
)

// Level reports whether m is a level (true) or a flow (false).
func (m Metric) Level() bool {
	return m == MetricFollowers || m == MetricFollowing || m == MetricPostsCount || m == ""
}

// Valid reports whether m is one of the metrics above.
func (m Metric) Valid() bool {
	switch m {
	case MetricFollowers, MetricFollowing, MetricPostsCount, MetricPostsPublished, MetricLikesGained, MetricCommentsGained:
		return true
	}
	return false
}

// Trend limits.
const (
	// MaxTrendBuckets bounds the buckets of one period (the previous
	// period has as many again).
	MaxTrendBuckets = 1000
	// DefaultTrendWindow is the moving average's window in buckets.
	DefaultTrendWindow = 7
	// MaxTrendWindow bounds the moving average's window.
	MaxTrendWindow = 100
)

// TrendQuery selects the trend of one metric over one user's accounts.
type TrendQuery struct {
	UserID string // required: every query is scoped to one user
	Grain  Grain
	// From and To select the period: the buckets starting in
	// [bucket of From, To). The previous period is as many buckets
	// immediately before it. At most MaxTrendBuckets per period.
	From time.Time
	To   time.Time
	// Platforms filters by platform; empty means all.
	Platforms []string
	// Metric defaults to MetricFollowers.
	Metric Metric
	// Window is the moving average's width in buckets; 0 means
	// DefaultTrendWindow, at most MaxTrendWindow.
	Window int
}

// MetricOrDefault returns q.Metric, or MetricFollowers when it is empty.
func (q TrendQuery) MetricOrDefault() Metric {
	if q.Metric == "" {
		return MetricFollowers
	}
	return q.Metric
}

// TrendPoint is one bucket of a trend: the total over the selected accounts
// (of one platform, or of all of them).
//
// A level metric's total at a bucket sums each account's latest value at
// or before the bucket (an account observed in an earlier bucket of the
// compared span counts with that value; accounts never observed in the
// span count 0), so a missing observation is not a dip. A flow metric's
// total sums the accounts' values of that bucket.
type TrendPoint struct {
	Bucket time.Time
	Value  int64
	// Change is, for a level metric, Value minus the previous point's
	// (HasChange false at the first point of the span); for a flow metric,
	// Value.
	Change    int64
	HasChange bool
	// MovingAvg is the mean Value of the points within the Window buckets
	// ending at this one (points of the previous period included).
	MovingAvg float64
	// Fit is the least-squares line's value at this bucket's start.
	Fit float64
	// Followers is the followers total (as a level metric) and Gained the
	// likes and comments gained during the bucket; EngagementRate is
	// Gained / Followers, 0 while Followers is 0.
	Followers      int64
	Gained         int64
	EngagementRate float64
}

// Trend is a metric's trend over one period, compared with the previous
// period of the same number of buckets.
type Trend struct {
	// Platform is the platform of these accounts, "" for all the selected
	// platforms together.
	Platform string
	// Points are the period's buckets that have data (a follower reading
	// or post activity of any selected account), oldest first; Previous
	// the previous period's.
	Points   []TrendPoint
	Previous []TrendPoint
	// Value is, for a level metric, the last point's value; for a flow
	// metric, the sum over the period. PreviousValue is the same over the
	// previous period; HasPrevious is false for a level metric without a
	// point in the previous period.
	Value         int64
	PreviousValue int64
	HasPrevious   bool
	// SlopePerDay and Intercept are the least-squares line through the
	// period's points (x: days since the period's first bucket, y:
	// Value); R2 is its coefficient of determination (1 when every y is
	// equal, 0 with fewer than two points).
	SlopePerDay float64
	Intercept   float64
	R2          float64
	// Best and Worst index Points: the largest and smallest Change (the
	// first of equals); -1 when no point has a Change.
	Best, Worst int
}

// TrendSpan returns, for a grain and range, the previous period's first
// bucket, the period's first bucket (the bucket holding from) and the
// number of buckets per period (those starting before to). It fails for
// an unknown grain, an empty range or more than MaxTrendBuckets buckets.
func TrendSpan(g Grain, from, to time.Time) (prevFrom, start time.Time, n int, err error) {
	from = from.UTC()
	switch g {
	case GrainHour:
		start = from.Truncate(time.Hour)
	case GrainDay:
		start = time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	case GrainMonth:
		start = time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
	case GrainYear:
		start = time.Date(from.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	default:
		return time.Time{}, time.Time{}, 0, fmt.Errorf("unknown grain %q", g)
	}
	if !to.After(start) {
		return time.Time{}, time.Time{}, 0, fmt.Errorf("to must be after from")
	}
	step := func(t time.Time, k int) time.Time {
		switch g {
		case GrainHour:
			return t.Add(time.Duration(k) * time.Hour)
		case GrainDay:
			return t.AddDate(0, 0, k)
		case GrainMonth:
			return t.AddDate(0, k, 0)
		}
		return t.AddDate(k, 0, 0)
	}
	for b := start; b.Before(to); b = step(b, 1) {
		if n++; n > MaxTrendBuckets {
			return time.Time{}, time.Time{}, 0, fmt.Errorf("a trend covers at most %d buckets", MaxTrendBuckets)
		}
	}
	return step(start, -n), start, n, nil
}

// Trends computes trends; *clickhouse.DB implements it.
type Trends interface {
	Trends(ctx context.Context, q TrendQuery) ([]Trend, error)
}
