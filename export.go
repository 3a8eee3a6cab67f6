package pulse

import (
	"context"
	"time"
)

// MetricsBatch is up to a batch of account-bucket rows, column-wise: row i
// is (Platform[i], AccountID[i], ...). Columns mean what Point's fields
// mean. The slices are reused for the next batch: copy what must outlive
// the callback.
type MetricsBatch struct {
	Platform, AccountID, Handle           []string
	Bucket                                []time.Time // bucket start, UTC
	Followers, FollowersMin, FollowersMax []int64
	FollowersAvg                          []float64
	Following, PostsCount                 []int64
	Hours, PostsPublished                 []int64
	LikesGained, CommentsGained           []int64
}

// Len returns the batch's rows.
func (b *MetricsBatch) Len() int { return len(b.Platform) }

// Reset empties the batch, keeping its capacity.
func (b *MetricsBatch) Reset() {
	b.Platform, b.AccountID, b.Handle, b.Bucket = b.Platform[:0], b.AccountID[:0], b.Handle[:0], b.Bucket[:0]
	b.Followers, b.FollowersMin, b.FollowersMax, b.FollowersAvg = b.Followers[:0], b.FollowersMin[:0], b.FollowersMax[:0], b.FollowersAvg[:0]
	b.Following, b.PostsCount, b.Hours, b.PostsPublished = b.Following[:0], b.PostsCount[:0], b.Hours[:0], b.PostsPublished[:0]
	b.LikesGained, b.CommentsGained = b.LikesGained[:0], b.CommentsGained[:0]
}

// PostsBatch is up to a batch of posts (their latest observation),
// column-wise, as PostRow's fields. Reused like MetricsBatch.
type PostsBatch struct {
	Platform, AccountID, PostID    []string
	CreatedAt                      []time.Time // UTC
	Text, Permalink                []string
	Likes, Comments, Shares, Views []int64
}

// Len returns the batch's rows.
func (b *PostsBatch) Len() int { return len(b.Platform) }

// Reset empties the batch, keeping its capacity.
func (b *PostsBatch) Reset() {
	b.Platform, b.AccountID, b.PostID, b.CreatedAt = b.Platform[:0], b.AccountID[:0], b.PostID[:0], b.CreatedAt[:0]
	b.Text, b.Permalink = b.Text[:0], b.Permalink[:0]
	b.Likes, b.Comments, b.Shares, b.Views = b.Likes[:0], b.Comments[:0], b.Shares[:0], b.Views[:0]
}

// PostsExportQuery selects one user's posts by creation time.
type PostsExportQuery struct {
	UserID    string // required
	From, To  time.Time
	Platforms []string // empty: all
}

// Exports streams a user's analytics in batches; *clickhouse.DB implements
// it. fn gets each batch (reused afterwards); memory is bounded by the
// batch, whatever the number of rows.
type Exports interface {
	ExportMetrics(ctx context.Context, q SeriesQuery, batchRows int, fn func(*MetricsBatch) error) error
	ExportPosts(ctx context.Context, q PostsExportQuery, batchRows int, fn func(*PostsBatch) error) error
}
