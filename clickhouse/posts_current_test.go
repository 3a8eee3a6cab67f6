package clickhouse

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// openUnmigrated opens a fresh database without migrating it, dropping it
// when the test ends.
func openUnmigrated(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, testURL(t))
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() {
		_ = db.conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+quoteIdent(db.database))
		db.Close()
	})
	return db
}

// latestPosts returns every post's latest observation in table (posts,
// posts_latest or posts_current), one line per post, ordered.
func latestPosts(t *testing.T, db *DB, table string) []string {
	t.Helper()
	var out []string
	err := db.query(context.Background(), statement{sql: `SELECT user_id, platform, post_id, argMax(account_id, version), argMax(link_id, version),
       argMax(created_at, version), argMax(observed_at, version), argMax(text, version), argMax(permalink, version),
       argMax(likes, version), argMax(comments, version), argMax(shares, version), argMax(views, version), max(version)
FROM ` + table + `
GROUP BY user_id, platform, post_id
ORDER BY user_id, platform, post_id`}, func(s scanner) error {
		var user, platform, post, account, link, text, permalink string
		var created, observed time.Time
		var likes, comments, shares, views int64
		var version uint64
		if err := s.Scan(&user, &platform, &post, &account, &link, &created, &observed, &text, &permalink,
			&likes, &comments, &shares, &views, &version); err != nil {
			return err
		}
		out = append(out, fmt.Sprintln(user, platform, post, account, link, created.Unix(), observed.Unix(), text, permalink,
			likes, comments, shares, views, version))
		return nil
	})
	if err != nil {
		t.Fatalf("latest posts of %s: %v", table, err)
	}
	return out
}

// feedFrom answers q as Feed does, reading the feed's rows from table.
func feedFrom(t *testing.T, db *DB, table string, q pulse.FeedQuery) []pulse.PostRow {
	t.Helper()
	st := feedSQL(q)
	st.sql = strings.ReplaceAll(st.sql, "posts_current", table)
	var out []pulse.PostRow
	if err := db.query(context.Background(), st, func(s scanner) error {
		p, err := scanPostRow(s)
		out = append(out, p)
		return err
	}); err != nil {
		t.Fatalf("feed from %s: %v", table, err)
	}
	return out
}

func feedQueries(users []string) []pulse.FeedQuery {
	var qs []pulse.FeedQuery
	for _, u := range users {
		qs = append(qs, pulse.FeedQuery{UserID: u, Limit: 5}, pulse.FeedQuery{UserID: u, Limit: 200},
			pulse.FeedQuery{UserID: u, Limit: 7, Rank: pulse.RankLikes},
			pulse.FeedQuery{UserID: u, Limit: 50, Rank: pulse.RankEngagement})
	}
	return qs
}

// TestPostsCurrentMigrationKeepsEveryPost builds a database as the release
// before posts_current left it (migrations up to 0016), writes posts
// before the migration, between its steps (after posts_current_mv exists,
// while posts_latest_mv still feeds posts_latest) and after it, and
// expects posts_current to hold every post's latest observation as posts
// holds it, the feed to answer what it answered from posts_latest, and
// posts_latest and its view to be gone.
func TestPostsCurrentMigrationKeepsEveryPost(t *testing.T) {
	db := openUnmigrated(t)
	ctx := context.Background()
	d := genDataset(rand.New(rand.NewPCG(testSeed(t), 17)))
	if err := db.migrateUpTo(ctx, 16); err != nil {
		t.Fatal(err)
	}
	// Three slices of the posts, out of order (later observations of a
	// post may come first).
	posts := append([]topics.Post(nil), d.posts...)
	rand.New(rand.NewPCG(testSeed(t), 18)).Shuffle(len(posts), func(i, j int) { posts[i], posts[j] = posts[j], posts[i] })
	before, during, after := posts[:len(posts)/2], posts[len(posts)/2:3*len(posts)/4], posts[3*len(posts)/4:]
	if err := db.Insert(ctx, d.snaps, before); err != nil {
		t.Fatal(err)
	}
	wantFeeds := map[int][]pulse.PostRow{}
	for i, q := range feedQueries(d.users) {
		wantFeeds[i] = feedFrom(t, db, "posts_latest", q)
	}

	if err := db.migrateUpTo(ctx, 18); err != nil { // both views feed their tables
		t.Fatal(err)
	}
	if err := db.InsertPosts(ctx, during); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"posts_latest", "posts_latest_mv"} {
		var n uint64
		if err := db.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", db.database, gone).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s still exists after the migration", gone)
		}
	}
	// Every post written before the copy, between the steps and after the
	// migration is in posts_current, with its latest observation.
	if err := db.InsertPosts(ctx, after); err != nil {
		t.Fatal(err)
	}
	want, got := latestPosts(t, db, "posts"), latestPosts(t, db, "posts_current")
	if len(want) < 10 || !reflect.DeepEqual(got, want) {
		t.Fatalf("posts_current holds %d posts, posts %d; first difference:\n%s", len(got), len(want), firstDiff(got, want))
	}
	// The feed answers what it answered before the migration for the
	// posts written then (the later ones only add to it: compare the
	// posts written before with a database holding only those).
	only := openUnmigrated(t)
	if err := only.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := only.Insert(ctx, d.snaps, before); err != nil {
		t.Fatal(err)
	}
	for i, q := range feedQueries(d.users) {
		got, err := only.Feed(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(wantFeeds[i]) == 0 || !reflect.DeepEqual(got, wantFeeds[i]) {
			t.Errorf("feed %+v: after the migration\n%+v\nbefore\n%+v", q, got, wantFeeds[i])
		}
	}
	// The migrated database's feed is the feed of every post.
	for _, q := range feedQueries(d.users) {
		got, err := db.Feed(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if want := feedFrom(t, db, "posts", q); !reflect.DeepEqual(got, want) {
			t.Errorf("feed %+v: from posts_current\n%+v\nfrom posts\n%+v", q, got, want)
		}
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return "got  " + a[i] + "want " + b[i]
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(a), len(b))
}

// TestRollupRebuildMigrationOnAnOldDatabase migrates a database that
// predates the rollups and posts_current (migrations up to 0005) and
// holds data: migration 0012 rebuilds the rollups from posts_current,
// which it creates and fills first, so every grain answers what a
// database that had the current layout from the start answers for the
// same writes.
func TestRollupRebuildMigrationOnAnOldDatabase(t *testing.T) {
	ctx := context.Background()
	d := genDataset(rand.New(rand.NewPCG(testSeed(t), 19)))
	old := openUnmigrated(t)
	if err := old.migrateUpTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if err := old.Insert(ctx, d.snaps, d.posts); err != nil {
		t.Fatal(err)
	}
	if err := old.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := mustOpenTest(t)
	if err := fresh.Write(ctx, d.snaps, d.posts); err != nil {
		t.Fatal(err)
	}
	for _, user := range d.users {
		for _, g := range []pulse.Grain{pulse.GrainHour, pulse.GrainDay, pulse.GrainMonth, pulse.GrainYear} {
			q := pulse.SeriesQuery{UserID: user, Grain: g, From: d.from.AddDate(-1, 0, 0), To: d.to}
			got, err := old.Series(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			want, err := fresh.Series(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 || !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s: migrated %s", user, g, diffPoints(got, want))
			}
		}
	}
}
