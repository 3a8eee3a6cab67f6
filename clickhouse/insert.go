package clickhouse

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"golang.org/x/sync/errgroup"

	"github.com/pulsehq/pulse/topics"
)

// Write inserts account snapshots and post observations, then recomputes
// every rollup bucket they touch (see docs/olap.md). It is Insert and the
// recomputation of that insert's buckets in one call; the sink uses Insert
// and RefreshRollups instead, to recompute the buckets of many inserts at
// once.
//
// Write is idempotent: writing the same rows again, in part or in full, in
// any order and from any number of processes at once, changes no query
// answer, because every table is keyed on the rows' identity (snapshots:
// user, platform, account, hour; posts: user, platform, post, observed hour)
// with the highest version winning, and every rollup is recomputed from the
// deduplicated rows. A Write that failed part-way may have written some of
// the rows and rollups; writing the same rows again repairs that. Errors
// wrapping ErrUnavailable are worth retrying; so are the others, which
// typically are server errors during an outage.
func (db *DB) Write(ctx context.Context, snaps []topics.AccountSnapshot, posts []topics.Post) error {
	// Snapshots and posts are independent families of tables: each
	// family's insert and rollups run in order, the two families at once
	// (the server works on both statements; the batch waits for the
	// slower family, not for the sum).
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := db.insertSnapshotFamily(ctx, snaps); err != nil {
			return err
		}
		return db.refreshAccountRollups(ctx, snapshotBuckets(snaps))
	})
	g.Go(func() error {
		if err := db.insertPostFamily(ctx, posts); err != nil {
			return err
		}
		var k postKeys
		k.add(posts)
		pb, err := db.postBuckets(ctx, &k)
		if err != nil {
			return err
		}
		return db.refreshPostRollups(ctx, pb)
	})
	return g.Wait()
}

// Insert stores snapshots and post observations like Write, but does not
// recompute the rollups: once a family's rows are stored, the rollup
// buckets they touch are marked stale in db (in memory), and the next
// RefreshRollups recomputes them. Until then the hourly and post tables
// answer with the new rows and the day, month and year rollups may not.
// Idempotent like Write. If Insert fails, the rows it did store may stay
// unmarked: the caller must insert them again (as the sink does, since it
// commits nothing until an Insert and a later RefreshRollups succeeded).
// The marks live in this process only: a caller that crashes before
// RefreshRollups must insert the rows again, which the sink does by not
// committing their offsets.
func (db *DB) Insert(ctx context.Context, snaps []topics.AccountSnapshot, posts []topics.Post) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := db.insertSnapshotFamily(ctx, snaps); err != nil {
			return err
		}
		db.stale.markSnapshots(snaps)
		return nil
	})
	g.Go(func() error {
		if err := db.insertPostFamily(ctx, posts); err != nil {
			return err
		}
		db.stale.markPosts(posts)
		return nil
	})
	return g.Wait()
}

// RefreshRollups recomputes every rollup bucket marked stale by an Insert
// that returned before RefreshRollups was called, at every grain, from the
// deduplicated rows (the same statements as Write's). On success those
// buckets are unmarked; on error they stay marked for the next call. Safe
// for concurrent use with Insert and with itself; refreshing a bucket more
// often than needed is harmless.
func (db *DB) RefreshRollups(ctx context.Context) error {
	acct, posts := db.stale.take()
	if len(acct) == 0 && posts.empty() {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return db.refreshAccountRollups(gctx, acct) })
	g.Go(func() error {
		pb, err := db.postBuckets(gctx, posts)
		if err != nil {
			return err
		}
		return db.refreshPostRollups(gctx, pb)
	})
	if err := g.Wait(); err != nil {
		db.stale.putBack(acct, posts)
		return err
	}
	return nil
}

// StaleBuckets is how many daily rollup buckets (account and post) are
// marked stale: inserted and not yet recomputed.
func (db *DB) StaleBuckets() int {
	db.stale.mu.Lock()
	defer db.stale.mu.Unlock()
	return len(db.stale.acct) + len(db.stale.posts.days)
}

// insertSnapshotFamily inserts the hourly rows and the insights the
// snapshots carry, at once (independent tables: a refresh's row waits for
// one round trip, not two).
func (db *DB) insertSnapshotFamily(ctx context.Context, snaps []topics.AccountSnapshot) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return db.insertSnapshots(ctx, snaps) })
	g.Go(func() error { return db.insertInsights(ctx, snaps) })
	return g.Wait()
}

// insertPostFamily inserts the post observations and their insights, at
// once.
func (db *DB) insertPostFamily(ctx context.Context, posts []topics.Post) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return db.insertPosts(ctx, posts) })
	g.Go(func() error { return db.insertPostInsights(ctx, posts) })
	return g.Wait()
}

// staleBuckets are the rollup buckets of stored rows not yet recomputed.
type staleBuckets struct {
	mu    sync.Mutex
	acct  map[dayKey]struct{}
	posts postKeys
}

func (s *staleBuckets) markSnapshots(snaps []topics.AccountSnapshot) {
	if len(snaps) == 0 {
		return
	}
	keys := snapshotBuckets(snaps)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acct == nil {
		s.acct = keys
		return
	}
	for k := range keys {
		s.acct[k] = struct{}{}
	}
}

func (s *staleBuckets) markPosts(posts []topics.Post) {
	if len(posts) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts.add(posts)
}

// take removes and returns every stale bucket.
func (s *staleBuckets) take() (map[dayKey]struct{}, *postKeys) {
	s.mu.Lock()
	defer s.mu.Unlock()
	acct, posts := s.acct, s.posts
	s.acct, s.posts = nil, postKeys{}
	return acct, &posts
}

// putBack marks buckets that take returned and that could not be
// recomputed stale again.
func (s *staleBuckets) putBack(acct map[dayKey]struct{}, posts *postKeys) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acct == nil {
		s.acct = map[dayKey]struct{}{}
	}
	for k := range acct {
		s.acct[k] = struct{}{}
	}
	s.posts.merge(posts)
}

// InsertSnapshots is Write with snapshots only.
func (db *DB) InsertSnapshots(ctx context.Context, snaps []topics.AccountSnapshot) error {
	return db.Write(ctx, snaps, nil)
}

// InsertPosts is Write with posts only.
func (db *DB) InsertPosts(ctx context.Context, posts []topics.Post) error {
	return db.Write(ctx, nil, posts)
}

// Column lists of the inserts. The column-wise appends below follow them.
const (
	insertSnapshotsSQL = `INSERT INTO account_metrics_hourly
		(user_id, platform, account_id, link_id, handle, hour, observed_at, followers, following, posts_count, version)`
	insertInsightsSQL = `INSERT INTO account_insights_hourly
		(user_id, platform, account_id, link_id, hour, observed_at, reach, views, profile_views, version)`
	insertPostInsightsSQL = `INSERT INTO post_insights (user_id, platform, account_id, post_id, hour, reach, saves, version)`
	insertPostsSQL        = `INSERT INTO posts
		(user_id, platform, account_id, link_id, post_id, created_at, hour, observed_at, text, permalink,
		 likes, comments, shares, views, version)`
)

// insertSnapshots appends column by column: about twice as fast as row by
// row in clickhouse-go, since each column is one typed slice.
func (db *DB) insertSnapshots(ctx context.Context, snaps []topics.AccountSnapshot) error {
	if len(snaps) == 0 {
		return nil
	}
	n := len(snaps)
	var (
		users, platforms, accounts, links, handles = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		hours, observed                            = make([]time.Time, n), make([]time.Time, n)
		followers, following, postsCount           = make([]int64, n), make([]int64, n), make([]int64, n)
		versions                                   = make([]uint64, n)
	)
	for i := range snaps {
		s := &snaps[i]
		users[i], platforms[i], accounts[i], links[i], handles[i] = s.UserID, string(s.Platform), s.AccountID, s.LinkID, s.Handle
		hours[i], observed[i] = s.Hour.UTC().Truncate(time.Hour), s.ObservedAt.UTC()
		followers[i], following[i], postsCount[i] = s.Followers, s.Following, s.PostsCount
		versions[i] = uint64(s.Version)
	}
	return db.sendColumns(ctx, "insert snapshots", insertSnapshotsSQL,
		users, platforms, accounts, links, handles, hours, observed, followers, following, postsCount, versions)
}

// insertInsights writes the daily insights the snapshots carry, each day
// in its first hour with the snapshot's version; an unreported metric is
// -1.
func (db *DB) insertInsights(ctx context.Context, snaps []topics.AccountSnapshot) error {
	var (
		users, platforms, accounts, links []string
		hours, observed                   []time.Time
		reach, views, profile             []int64
		versions                          []uint64
	)
	val := func(p *int64) int64 {
		if p == nil || *p < 0 {
			return -1
		}
		return *p
	}
	for i := range snaps {
		s := &snaps[i]
		for _, d := range s.Insights {
			users, platforms, accounts, links = append(users, s.UserID), append(platforms, string(s.Platform)), append(accounts, s.AccountID), append(links, s.LinkID)
			hours, observed = append(hours, d.Day.UTC().Truncate(time.Hour)), append(observed, s.ObservedAt.UTC())
			reach, views, profile = append(reach, val(d.Reach)), append(views, val(d.Views)), append(profile, val(d.ProfileViews))
			versions = append(versions, uint64(s.Version))
		}
	}
	if len(users) == 0 {
		return nil
	}
	return db.sendColumns(ctx, "insert insights", insertInsightsSQL,
		users, platforms, accounts, links, hours, observed, reach, views, profile, versions)
}

// insertPostInsights writes the reach and saves of the posts that report
// any.
func (db *DB) insertPostInsights(ctx context.Context, posts []topics.Post) error {
	var (
		users, platforms, accounts, ids []string
		hours                           []time.Time
		reach, saves                    []int64
		versions                        []uint64
	)
	for i := range posts {
		p := &posts[i]
		if p.Reach == 0 && p.Saves == 0 {
			continue
		}
		users, platforms, accounts, ids = append(users, p.UserID), append(platforms, string(p.Platform)), append(accounts, p.AccountID), append(ids, p.PostID)
		hours = append(hours, p.ObservedAt.UTC().Truncate(time.Hour))
		reach, saves, versions = append(reach, p.Reach), append(saves, p.Saves), append(versions, uint64(p.Version))
	}
	if len(users) == 0 {
		return nil
	}
	return db.sendColumns(ctx, "insert post insights", insertPostInsightsSQL, users, platforms, accounts, ids, hours, reach, saves, versions)
}

func (db *DB) insertPosts(ctx context.Context, posts []topics.Post) error {
	if len(posts) == 0 {
		return nil
	}
	n := len(posts)
	var (
		users, platforms, accounts, links, ids = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		texts, permalinks                      = make([]string, n), make([]string, n)
		created, hours, observed               = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
		likes, comments, shares, views         = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		versions                               = make([]uint64, n)
	)
	for i := range posts {
		p := &posts[i]
		users[i], platforms[i], accounts[i], links[i], ids[i] = p.UserID, string(p.Platform), p.AccountID, p.LinkID, p.PostID
		texts[i], permalinks[i] = p.Text, p.Permalink
		created[i], observed[i] = p.CreatedAt.UTC(), p.ObservedAt.UTC()
		hours[i] = observed[i].Truncate(time.Hour)
		likes[i], comments[i], shares[i], views[i] = p.Likes, p.Comments, p.Shares, p.Views
		versions[i] = uint64(p.Version)
	}
	return db.sendColumns(ctx, "insert posts", insertPostsSQL,
		users, platforms, accounts, links, ids, created, hours, observed, texts, permalinks, likes, comments, shares, views, versions)
}

// sendColumns sends one batch of the insert with the given column slices,
// in the insert's column order.
func (db *DB) sendColumns(ctx context.Context, op, insert string, cols ...any) (err error) {
	b, err := db.conn.PrepareBatch(ctx, insert)
	if err != nil {
		return fmt.Errorf("clickhouse: %s: %w", op, translate(err))
	}
	defer func() {
		if err != nil {
			_ = b.Abort()
		}
	}()
	if err := appendColumns(b, cols...); err != nil {
		return fmt.Errorf("clickhouse: %s: append: %w", op, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("clickhouse: %s: %w", op, translate(err))
	}
	return nil
}

func appendColumns(b driver.Batch, cols ...any) error {
	for i, c := range cols {
		if err := b.Column(i).Append(c); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return nil
}
