package clickhouse

import (
	"context"
	"fmt"

	"github.com/pulsehq/pulse/topics"
)

// InsertSnapshots writes account snapshots in one batch. Inserting a
// snapshot twice changes no query answer (identity user, platform, account,
// hour; the highest version wins). Errors wrapping ErrUnavailable are worth
// retrying.
func (db *DB) InsertSnapshots(ctx context.Context, snaps []topics.AccountSnapshot) error {
	if len(snaps) == 0 {
		return nil
	}
	b, err := db.conn.PrepareBatch(ctx, `INSERT INTO account_metrics_hourly
		(user_id, platform, account_id, link_id, handle, hour, observed_at, followers, following, posts_count, version)`)
	if err != nil {
		return fmt.Errorf("clickhouse: insert snapshots: %w", translate(err))
	}
	defer b.Close()
	for i := range snaps {
		s := &snaps[i]
		if err := b.Append(s.UserID, string(s.Platform), s.AccountID, s.LinkID, s.Handle,
			s.Hour.UTC(), s.ObservedAt.UTC(), s.Followers, s.Following, s.PostsCount, uint64(s.Version)); err != nil {
			return fmt.Errorf("clickhouse: insert snapshots: append: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("clickhouse: insert snapshots: %w", translate(err))
	}
	return nil
}

// InsertPosts writes post observations in one batch; like InsertSnapshots
// it is idempotent on the rows' identity (user, platform, post, hour).
func (db *DB) InsertPosts(ctx context.Context, posts []topics.Post) error {
	if len(posts) == 0 {
		return nil
	}
	b, err := db.conn.PrepareBatch(ctx, `INSERT INTO posts
		(user_id, platform, account_id, link_id, post_id, created_at, hour, observed_at, text, permalink, likes, comments, shares, views, version)`)
	if err != nil {
		return fmt.Errorf("clickhouse: insert posts: %w", translate(err))
	}
	defer b.Close()
	for i := range posts {
		p := &posts[i]
		obs := p.ObservedAt.UTC()
		if err := b.Append(p.UserID, string(p.Platform), p.AccountID, p.LinkID, p.PostID, p.CreatedAt.UTC(),
			obs.Truncate(3600e9), obs, p.Text, p.Permalink, p.Likes, p.Comments, p.Shares, p.Views, uint64(p.Version)); err != nil {
			return fmt.Errorf("clickhouse: insert posts: append: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("clickhouse: insert posts: %w", translate(err))
	}
	return nil
}
