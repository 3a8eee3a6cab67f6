package pulse

import (
	"context"
	"time"
)

// Grain is a time bucket size of analytics series.
type Grain string

const (
	GrainHour  Grain = "hour"
	GrainDay   Grain = "day"
	GrainMonth Grain = "month"
	GrainYear  Grain = "year"
)

// SeriesQuery selects one user's account metrics.
type SeriesQuery struct {
	UserID string // required: every query is scoped to one user
	Grain  Grain
	// From and To select the buckets that overlap [From, To): a bucket is
	// returned whole, with every hour of it, even when From or To fall
	// inside it.
	From time.Time
	To   time.Time
	// Platforms filters by platform; empty means all.
	Platforms []string
	// AccountID filters to one account; empty means all.
	AccountID string
}

// Point is one bucket of one account's metrics.
//
// Followers, Following and PostsCount are the last hourly values in the
// bucket; FollowersMin/Max/Avg are over the bucket's hourly values (each
// hour's value being its latest observation), and Hours counts those hourly
// values. PostsPublished counts the account's posts created in the bucket;
// LikesGained and CommentsGained sum, over the account's posts, the last
// counter observed by the bucket's end minus the last one observed before
// its start (0 for a post not observed before), so the gains of a month are
// the sum of its days' gains.
//
// A bucket with post activity but no follower observation has Hours == 0
// and zero follower fields; its Handle is the account's handle from the
// other points of the answer, when there are any.
type Point struct {
	Platform       string
	AccountID      string
	Handle         string
	Bucket         time.Time
	Followers      int64
	FollowersMin   int64
	FollowersMax   int64
	FollowersAvg   float64
	Following      int64
	PostsCount     int64
	Hours          uint64 // hourly observations in the bucket
	PostsPublished uint64
	LikesGained    int64
	CommentsGained int64
	// Reach, Views and ProfileViews are the account's insights summed over
	// the bucket's hours (each hour's latest observation; the platforms
	// report days, in their first hour); nil when the platform reported
	// none in the bucket.
	Reach        *int64
	Views        *int64
	ProfileViews *int64
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
	// After pages forwards through the newest-first feed (a cursor): only
	// the posts that come after this one in it. Nil: from the newest.
	// Not with Rank.
	After *PostKey
	// Rank orders by a counter, highest first (ties newest first), instead
	// of newest first: top posts. Default RankNewest.
	Rank PostRank
	// From and To, when set, keep only the posts created in [From, To).
	From, To time.Time
}

// PostRank is an order of posts (FeedQuery.Rank).
type PostRank string

// Post orders: newest first, or by a counter, highest first. Engagement
// is (likes + comments + shares) divided by the account's followers at its
// latest observation (PostRow.EngagementRate).
const (
	RankNewest     PostRank = ""
	RankLikes      PostRank = "likes"
	RankComments   PostRank = "comments"
	RankShares     PostRank = "shares"
	RankViews      PostRank = "views"
	RankEngagement PostRank = "engagement"
)

// PostKey is a post's place in the newest-first feed, which orders by
// creation time (to the second, newest first), then platform, then post
// id: the feed's cursor.
type PostKey struct {
	CreatedAt time.Time
	Platform  string
	PostID    string
}

// PostHistoryQuery selects one post's counters per hour in [From, To).
type PostHistoryQuery struct {
	UserID, Platform, PostID string // required
	From, To                 time.Time
}

// PostPoint is a post's counters at the latest observation of one hour.
type PostPoint struct {
	Hour                           time.Time
	Likes, Comments, Shares, Views int64
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
	// Reach and Saves are the post's latest insights, 0 where the platform
	// reports none.
	Reach int64
	Saves int64
	// EngagementRate is (likes + comments + shares) / the account's
	// followers at its latest observation; set only for RankEngagement
	// (0 when the followers are unknown or 0).
	EngagementRate float64
}

// AnalyticsPurger deletes a deleted user's analytics rows: the API right
// after an account deletion, the upkeep loop when that failed. Purge must
// be idempotent and may complete asynchronously once accepted. It gets the
// whole request: rows keyed by user and rows keyed by the user's links
// (req.LinkIDs) must both go.
type AnalyticsPurger interface {
	Purge(ctx context.Context, req PurgeRequest) error
}
