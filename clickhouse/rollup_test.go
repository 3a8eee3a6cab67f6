package clickhouse

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// dataset is random data and, independently of the SQL under test, what
// every query should answer for it.
type dataset struct {
	snaps []topics.AccountSnapshot
	posts []topics.Post
	users []string
	from  time.Time // every observation is in [from, to)
	to    time.Time
}

type acctID struct{ user, platform, account string }

// genDataset makes snapshots and post observations for a few users and
// accounts over about seven weeks spanning a year boundary, with several
// versions of some hours and posts created before the span.
func genDataset(rng *rand.Rand) *dataset {
	d := &dataset{
		from: time.Date(2025, 12, 20, 0, 0, 0, 0, time.UTC),
		to:   time.Date(2026, 2, 8, 0, 0, 0, 0, time.UTC),
	}
	platforms := []topics.Platform{topics.X, topics.Facebook, topics.Instagram}
	hours := int(d.to.Sub(d.from) / time.Hour)
	for u := 0; u < 3; u++ {
		user := fmt.Sprintf("user-%d", u)
		d.users = append(d.users, user)
		for a := 0; a < 1+rng.IntN(3); a++ {
			pl := platforms[rng.IntN(len(platforms))]
			acct := fmt.Sprintf("acct-%d-%d", u, a)
			followers := int64(1000 + rng.IntN(5000))
			rename := d.from.Add(time.Duration(rng.IntN(hours)) * time.Hour)
			for h := 0; h < hours; h++ {
				if rng.Float64() > 0.3 {
					continue
				}
				hour := d.from.Add(time.Duration(h) * time.Hour)
				handle := "@" + acct
				if !hour.Before(rename) {
					handle += "-renamed"
				}
				for v := 0; v < 1+rng.IntN(3); v++ {
					followers += int64(rng.IntN(41) - 15)
					obs := hour.Add(time.Duration(rng.IntN(3600_000)) * time.Millisecond)
					d.snaps = append(d.snaps, topics.AccountSnapshot{
						LinkID: "link-" + acct, UserID: user, Platform: pl, AccountID: acct, Handle: handle,
						Hour: hour, ObservedAt: obs, Followers: followers, Following: int64(rng.IntN(100)),
						PostsCount: int64(rng.IntN(500)), Version: obs.UnixMilli(),
					})
				}
			}
			for p := 0; p < 4+rng.IntN(8); p++ {
				// Some posts were created before the span (first observed
				// with their likes so far), some during it.
				created := d.from.Add(time.Duration(rng.IntN(hours)-hours/4) * time.Hour).Add(time.Duration(rng.IntN(3600)) * time.Second)
				likes, comments := int64(rng.IntN(50)), int64(rng.IntN(10))
				id := fmt.Sprintf("post-%d-%d-%d", u, a, p)
				for h := max(0, int(created.Sub(d.from)/time.Hour)+1); h < hours; h++ {
					if rng.Float64() > 0.08 {
						continue
					}
					hour := d.from.Add(time.Duration(h) * time.Hour)
					for v := 0; v < 1+rng.IntN(2); v++ {
						likes += int64(rng.IntN(30) - 3) // counters may drop (unlikes)
						comments += int64(rng.IntN(5))
						obs := hour.Add(time.Duration(rng.IntN(3600_000)) * time.Millisecond)
						d.posts = append(d.posts, topics.Post{
							LinkID: "link-" + acct, UserID: user, Platform: pl, AccountID: acct, PostID: id,
							CreatedAt: created.Truncate(time.Second), ObservedAt: obs, Text: "text of " + id,
							Permalink: "https://example.com/" + id, Likes: likes, Comments: comments,
							Shares: int64(rng.IntN(5)), Views: int64(rng.IntN(1000)), Version: obs.UnixMilli(),
						})
					}
				}
			}
		}
	}
	return d
}

// bucketOf is the start of the grain's bucket holding t.
func bucketOf(g pulse.Grain, t time.Time) time.Time { return bucketStart(g, t) }

// expectSeries computes, in Go, the answer of Series for user at grain g
// over the whole span.
func (d *dataset) expectSeries(user string, g pulse.Grain) []pulse.Point {
	type hourKey struct {
		acctID
		hour time.Time
	}
	latest := map[hourKey]topics.AccountSnapshot{}
	for _, s := range d.snaps {
		k := hourKey{acctID{s.UserID, string(s.Platform), s.AccountID}, s.Hour}
		if s.UserID == user && (latest[k].Version < s.Version) {
			latest[k] = s
		}
	}
	hks := make([]hourKey, 0, len(latest))
	for k := range latest {
		hks = append(hks, k)
	}
	sort.Slice(hks, func(i, j int) bool { return hks[i].hour.Before(hks[j].hour) })
	points := map[pointKey]*pulse.Point{}
	get := func(a acctID, b time.Time) *pulse.Point {
		k := pointKey{a.platform, a.account, b.Unix()}
		if points[k] == nil {
			points[k] = &pulse.Point{Platform: a.platform, AccountID: a.account, Bucket: b}
		}
		return points[k]
	}
	sums := map[*pulse.Point]int64{}
	for _, k := range hks { // in hour order: the last one written is the last of the bucket
		s := latest[k]
		p := get(k.acctID, bucketOf(g, k.hour))
		if p.Hours == 0 || s.Followers < p.FollowersMin {
			p.FollowersMin = s.Followers
		}
		if p.Hours == 0 || s.Followers > p.FollowersMax {
			p.FollowersMax = s.Followers
		}
		p.Handle, p.Followers, p.Following, p.PostsCount = s.Handle, s.Followers, s.Following, s.PostsCount
		p.Hours++
		sums[p] += s.Followers
	}
	for p, sum := range sums {
		p.FollowersAvg = float64(sum) / float64(p.Hours)
	}

	// Posts: each post's latest observation per hour, in hour order.
	type obs struct {
		hour            time.Time
		version         int64
		likes, comments int64
	}
	type postID struct {
		acctID
		post string
	}
	history := map[postID]map[time.Time]obs{}
	created := map[postID]time.Time{}
	for _, p := range d.posts {
		if p.UserID != user {
			continue
		}
		k := postID{acctID{p.UserID, string(p.Platform), p.AccountID}, p.PostID}
		if history[k] == nil {
			history[k] = map[time.Time]obs{}
		}
		h := p.ObservedAt.Truncate(time.Hour)
		if o, ok := history[k][h]; !ok || o.version < p.Version {
			history[k][h] = obs{h, p.Version, p.Likes, p.Comments}
		}
		created[k] = p.CreatedAt
	}
	for k, byHour := range history {
		get(k.acctID, bucketOf(g, created[k])).PostsPublished++
		list := make([]obs, 0, len(byHour))
		for _, o := range byHour {
			list = append(list, o)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].hour.Before(list[j].hour) })
		var prevLikes, prevComments int64 // last values before the current bucket
		for i, o := range list {
			b := bucketOf(g, o.hour)
			if i+1 < len(list) && bucketOf(g, list[i+1].hour).Equal(b) {
				continue // not the bucket's last observation
			}
			p := get(k.acctID, b)
			p.LikesGained += o.likes - prevLikes
			p.CommentsGained += o.comments - prevComments
			prevLikes, prevComments = o.likes, o.comments
		}
	}
	out := make([]pulse.Point, 0, len(points))
	for _, p := range points {
		if p.Hours > 0 || p.PostsPublished != 0 || p.LikesGained != 0 || p.CommentsGained != 0 {
			out = append(out, *p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.Platform != b.Platform {
			return a.Platform < b.Platform
		}
		if a.AccountID != b.AccountID {
			return a.AccountID < b.AccountID
		}
		return a.Bucket.Before(b.Bucket)
	})
	fillHandles(out)
	return out
}

// writeShuffled writes rows in random order, in random batch sizes, with
// part of them written twice.
func writeShuffled(t testing.TB, db *DB, rng *rand.Rand, snaps []topics.AccountSnapshot, posts []topics.Post) {
	t.Helper()
	ctx := context.Background()
	s := append([]topics.AccountSnapshot(nil), snaps...)
	p := append([]topics.Post(nil), posts...)
	for i := 0; i < len(s)/10; i++ {
		s = append(s, s[rng.IntN(len(snaps))])
	}
	for i := 0; i < len(p)/10; i++ {
		p = append(p, p[rng.IntN(len(posts))])
	}
	rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
	for len(s) > 0 || len(p) > 0 {
		ns, np := min(len(s), 1+rng.IntN(1500)), min(len(p), 1+rng.IntN(600))
		if err := db.Write(ctx, s[:ns], p[:np]); err != nil {
			t.Fatal(err)
		}
		s, p = s[ns:], p[np:]
	}
}

func (d *dataset) checkSeries(t *testing.T, db *DB, grains ...pulse.Grain) {
	t.Helper()
	for _, user := range d.users {
		for _, g := range grains {
			got, err := db.Series(context.Background(), pulse.SeriesQuery{UserID: user, Grain: g, From: d.from.AddDate(-1, 0, 0), To: d.to})
			if err != nil {
				t.Fatal(err)
			}
			if want := d.expectSeries(user, g); !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s: %s", user, g, diffPoints(got, want))
			}
		}
	}
}

func diffPoints(got, want []pulse.Point) string {
	byKey := map[pointKey]pulse.Point{}
	for _, p := range want {
		byKey[keyOf(&p)] = p
	}
	var n int
	out := fmt.Sprintf("got %d points, want %d", len(got), len(want))
	for _, g := range got {
		w, ok := byKey[keyOf(&g)]
		delete(byKey, keyOf(&g))
		if !ok || g != w {
			if n++; n <= 5 {
				out += fmt.Sprintf("\n  got  %+v\n  want %+v", g, w)
			}
		}
	}
	for _, w := range byKey {
		if n++; n <= 5 {
			out += fmt.Sprintf("\n  missing %+v", w)
		}
	}
	return out
}

func testSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return seed
}

// TestRollupsMatchRandomData writes random data in random order, with
// duplicates, and checks every grain against the answer computed in Go from
// the generated rows, and the rollup tables against a GROUP BY over the
// deduplicated hourly table.
func TestRollupsMatchRandomData(t *testing.T) {
	db := mustOpenTest(t)
	rng := rand.New(rand.NewPCG(testSeed(t), 1))
	d := genDataset(rng)
	t.Logf("%d snapshots, %d post observations", len(d.snaps), len(d.posts))
	writeShuffled(t, db, rng, d.snaps, d.posts)
	d.checkSeries(t, db, pulse.GrainHour, pulse.GrainDay, pulse.GrainMonth, pulse.GrainYear)
	checkRollupsAgainstGroupBy(t, db)
}

// checkRollupsAgainstGroupBy compares each account rollup table, read as
// its highest versions, with the same aggregates computed by one GROUP BY
// over the hourly table's latest value per hour.
func checkRollupsAgainstGroupBy(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	for _, g := range []struct{ table, col, fn string }{
		{"account_metrics_daily", "day", "toDate"},
		{"account_metrics_monthly", "month", "toStartOfMonth"},
		{"account_metrics_yearly", "year", "toStartOfYear"},
	} {
		rollup := `SELECT user_id, platform, account_id, toString(` + g.col + `),
			argMax(handle, version), argMax(followers, version), argMax(followers_min, version), argMax(followers_max, version),
			argMax(followers_sum, version), argMax(following, version), argMax(posts_count, version), argMax(hours, version)
			FROM ` + g.table + ` GROUP BY user_id, platform, account_id, ` + g.col + ``
		groupBy := `SELECT user_id, platform, account_id, toString(` + g.fn + `(hour)) AS b,
			argMax(h, hour), argMax(f, hour), min(f), max(f), sum(f), argMax(fo, hour), argMax(pc, hour), count()
			FROM (SELECT user_id, platform, account_id, hour, argMax(handle, version) AS h, argMax(followers, version) AS f,
				argMax(following, version) AS fo, argMax(posts_count, version) AS pc
				FROM account_metrics_hourly GROUP BY user_id, platform, account_id, hour)
			GROUP BY user_id, platform, account_id, b`
		a, b := dumpRows(t, db, ctx, rollup), dumpRows(t, db, ctx, groupBy)
		if len(a) == 0 || !reflect.DeepEqual(a, b) {
			t.Errorf("%s: %d rows differ from GROUP BY over hourly (%d rows); first rollup rows %v; first GROUP BY rows %v",
				g.table, len(a), len(b), head(a), head(b))
		}
	}
}

func head(rows []string) []string { return rows[:min(3, len(rows))] }

// dumpRows renders each row of query as one string.
func dumpRows(t *testing.T, db *DB, ctx context.Context, query string) []string {
	t.Helper()
	rows, err := db.conn.Query(ctx, query)
	if err != nil {
		t.Fatalf("%v\n%s", err, query)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var (
			user, platform, account, bucket, handle string
			f, fmin, fmax, fsum, fo, pc             int64
			hours                                   uint64
		)
		if err := rows.Scan(&user, &platform, &account, &bucket, &handle, &f, &fmin, &fmax, &fsum, &fo, &pc, &hours); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(user, platform, account, bucket, handle, f, fmin, fmax, fsum, fo, pc, hours))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestConcurrentWritersConverge writes one data set from four goroutines at
// once, each a random share of the rows in random order. Every bucket is
// recomputed by several writers racing each other; the answers must still
// be those of the data set.
func TestConcurrentWritersConverge(t *testing.T) {
	db := mustOpenTest(t)
	seed := testSeed(t)
	d := genDataset(rand.New(rand.NewPCG(seed, 2)))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(10+w)))
			var s []topics.AccountSnapshot
			var p []topics.Post
			for i := range d.snaps {
				if i%4 == w || rng.IntN(4) == 0 {
					s = append(s, d.snaps[i])
				}
			}
			for i := range d.posts {
				if i%4 == w || rng.IntN(4) == 0 {
					p = append(p, d.posts[i])
				}
			}
			writeShuffled(t, db, rng, s, p)
		}()
	}
	wg.Wait()
	d.checkSeries(t, db, pulse.GrainDay, pulse.GrainMonth, pulse.GrainYear)
}

// TestDuplicatesAndMergesChangeNoAnswer records every query answer, then
// writes everything again (a full replay) and a random part a third time
// (a crash between insert and commit), forces every merge, and expects the
// same answers.
func TestDuplicatesAndMergesChangeNoAnswer(t *testing.T) {
	db := mustOpenTest(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(testSeed(t), 3))
	d := genDataset(rng)
	if err := db.Write(ctx, d.snaps, d.posts); err != nil {
		t.Fatal(err)
	}
	before := answers(t, db, d)
	writeShuffled(t, db, rng, d.snaps, d.posts)
	if err := db.Write(ctx, d.snaps[:len(d.snaps)/3], d.posts[len(d.posts)/2:]); err != nil {
		t.Fatal(err)
	}
	if after := answers(t, db, d); !reflect.DeepEqual(before, after) {
		t.Fatalf("answers changed after duplicate inserts")
	}
	for _, table := range UserTables {
		if err := db.conn.Exec(ctx, "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
			t.Fatal(err)
		}
	}
	if after := answers(t, db, d); !reflect.DeepEqual(before, after) {
		t.Fatalf("answers changed after merges")
	}
	d.checkSeries(t, db, pulse.GrainDay, pulse.GrainMonth, pulse.GrainYear)
}

// answers returns every query answer for the data set's users.
func answers(t *testing.T, db *DB, d *dataset) map[string]any {
	t.Helper()
	ctx := context.Background()
	out := map[string]any{}
	for _, u := range d.users {
		for _, g := range []pulse.Grain{pulse.GrainHour, pulse.GrainDay, pulse.GrainMonth, pulse.GrainYear} {
			p, err := db.Series(ctx, pulse.SeriesQuery{UserID: u, Grain: g, From: d.from.AddDate(-1, 0, 0), To: d.to})
			if err != nil {
				t.Fatal(err)
			}
			out[u+"/"+string(g)] = p
		}
		f, err := db.Feed(ctx, pulse.FeedQuery{UserID: u, Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		out[u+"/feed"] = f
		if len(f) == 0 {
			t.Fatalf("user %s has an empty feed; the comparison would prove nothing", u)
		}
	}
	return out
}

// TestRebuildRollupsRecomputesEverything empties the rollup tables and
// expects RebuildRollups to restore every answer.
func TestRebuildRollupsRecomputesEverything(t *testing.T) {
	db := mustOpenTest(t)
	ctx := context.Background()
	d := genDataset(rand.New(rand.NewPCG(testSeed(t), 4)))
	if err := db.Write(ctx, d.snaps, d.posts); err != nil {
		t.Fatal(err)
	}
	for _, table := range UserTables {
		if !strings.HasSuffix(table, "_daily") && !strings.HasSuffix(table, "_monthly") && !strings.HasSuffix(table, "_yearly") {
			continue // a source table
		}
		if err := db.conn.Exec(ctx, "TRUNCATE TABLE "+table); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := db.Series(ctx, pulse.SeriesQuery{UserID: d.users[0], Grain: pulse.GrainDay, From: d.from, To: d.to}); len(got) != 0 {
		t.Fatalf("rollups not emptied: %d points", len(got))
	}
	if err := db.RebuildRollups(ctx); err != nil {
		t.Fatal(err)
	}
	d.checkSeries(t, db, pulse.GrainDay, pulse.GrainMonth, pulse.GrainYear)
}

func TestParseMinServer(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want [2]int
		ok   bool
	}{
		{"CREATE TABLE x", [2]int{}, true},
		{"-- pulse:min-server 20.3\nALTER TABLE x", [2]int{20, 3}, true},
		{"-- comment\n  -- pulse:min-server 24.10  \nALTER", [2]int{24, 10}, true},
		{"-- pulse:min-server 20\nALTER", [2]int{}, false},
	} {
		got, err := parseMinServer(c.sql)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseMinServer(%q) = %v, %v; want %v, ok %v", c.sql, got, err, c.want, c.ok)
		}
	}
	if !serverAtLeast(20, 3, [2]int{20, 3}) || serverAtLeast(18, 16, [2]int{20, 3}) || !serverAtLeast(25, 1, [2]int{20, 3}) ||
		serverAtLeast(20, 2, [2]int{20, 3}) || !serverAtLeast(18, 16, [2]int{}) {
		t.Error("serverAtLeast is wrong")
	}
}

// TestMigrationsFollowServerVersion checks that the codec migrations are
// applied exactly when the server is new enough, and everything else
// always.
func TestMigrationsFollowServerVersion(t *testing.T) {
	db := mustOpenTest(t)
	ctx := context.Background()
	major, minor, err := db.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.AppliedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range all {
		if serverAtLeast(major, minor, m.minServer) {
			want = append(want, m.name)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("server %d.%d: applied %v, want %v", major, minor, got, want)
	}
	if len(want) == len(all) && major < 20 {
		t.Fatalf("server %d.%d: a migration needing 20.3 was not gated", major, minor)
	}
}

// TestDeleteUserPurgesEveryTable deletes one user and expects none of
// their rows, in any table of the database that has a user_id column, and
// every other user's rows untouched.
func TestDeleteUserPurgesEveryTable(t *testing.T) {
	db := mustOpenTest(t)
	ctx := context.Background()
	d := genDataset(rand.New(rand.NewPCG(testSeed(t), 5)))
	// Every user's first snapshot carries a day of insights, and first post
	// a reach.
	seenPost := map[string]bool{}
	for i := range d.posts {
		if p := &d.posts[i]; !seenPost[p.UserID] {
			seenPost[p.UserID] = true
			p.Reach = 3
		}
	}
	seen := map[string]bool{}
	for i := range d.snaps {
		if s := &d.snaps[i]; !seen[s.UserID] {
			seen[s.UserID] = true
			reach := int64(5)
			s.Insights = []topics.DayInsights{{Day: utcDay(s.Hour), Reach: &reach}}
		}
	}
	if err := db.Write(ctx, d.snaps, d.posts); err != nil {
		t.Fatal(err)
	}
	others := answers(t, db, &dataset{users: d.users[1:], from: d.from, to: d.to})
	var tables []string
	rows, err := db.conn.Query(ctx, `SELECT table FROM system.columns WHERE database = ? AND name = 'user_id'
		AND table IN (SELECT name FROM system.tables WHERE database = ? AND engine LIKE '%MergeTree')`, db.database, db.database)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	sort.Strings(tables)
	want := append([]string(nil), UserTables...)
	sort.Strings(want)
	if !reflect.DeepEqual(tables, want) {
		t.Fatalf("tables with a user_id column %v, DeleteUser purges %v", tables, want)
	}
	count := func(table, user string) uint64 {
		var n uint64
		if err := db.conn.QueryRow(ctx, "SELECT count() FROM "+table+" WHERE user_id = ?", user).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, table := range tables {
		if count(table, d.users[0]) == 0 {
			t.Fatalf("%s has no rows of %s before the delete; the test would prove nothing", table, d.users[0])
		}
	}
	if err := db.DeleteUser(ctx, d.users[0]); err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		if n := count(table, d.users[0]); n != 0 {
			t.Errorf("%s still has %d rows of the deleted user", table, n)
		}
		if count(table, d.users[1])+count(table, d.users[2]) == 0 {
			t.Errorf("%s lost the other users' rows", table)
		}
	}
	if after := answers(t, db, &dataset{users: d.users[1:], from: d.from, to: d.to}); !reflect.DeepEqual(after, others) {
		t.Error("other users' answers changed")
	}
	if p, err := db.Series(ctx, pulse.SeriesQuery{UserID: d.users[0], Grain: pulse.GrainDay, From: d.from, To: d.to}); err != nil || len(p) != 0 {
		t.Errorf("deleted user's series: %d points, %v", len(p), err)
	}
}

// TestInsertThenRefreshRollupsMatchRandomData is the sink's path: rows
// inserted in random order and batches, with duplicates, their rollups
// recomputed only every few inserts, some recomputations failing (a
// cancelled context: the buckets must stay stale, not be forgotten), and
// in the end every grain equals the answer computed in Go and the rollup
// tables equal a GROUP BY over the hourly rows.
//
// It runs twice: with the default chunk size (one statement per level) and
// with chunks of 7 day buckets, so months and years are split over chunks.
func TestInsertThenRefreshRollupsMatchRandomData(t *testing.T) {
	for _, c := range []struct {
		name string
		keys int
	}{{"default chunks", maxRollupKeys}, {"chunks of 7 buckets", 7}} {
		t.Run(c.name, func(t *testing.T) {
			defer func(n int) { maxRollupKeys = n }(maxRollupKeys)
			maxRollupKeys = c.keys
			insertThenRefreshRollups(t)
		})
	}
}

func insertThenRefreshRollups(t *testing.T) {
	db := mustOpenTest(t)
	rng := rand.New(rand.NewPCG(testSeed(t), 4))
	d := genDataset(rng)
	ctx := context.Background()
	s := append([]topics.AccountSnapshot(nil), d.snaps...)
	p := append([]topics.Post(nil), d.posts...)
	for i := 0; i < len(s)/10; i++ {
		s = append(s, s[rng.IntN(len(d.snaps))])
	}
	rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
	failed := 0
	for batch := 0; len(s) > 0 || len(p) > 0; batch++ {
		ns, np := min(len(s), 1+rng.IntN(1000)), min(len(p), 1+rng.IntN(400))
		if err := db.Insert(ctx, s[:ns], p[:np]); err != nil {
			t.Fatal(err)
		}
		s, p = s[ns:], p[np:]
		what := rng.IntN(4)
		if batch == 0 {
			what = 0 // at least one failed recomputation
		}
		switch what {
		case 0:
			stale := db.StaleBuckets()
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			if err := db.RefreshRollups(cancelled); err == nil {
				t.Fatal("RefreshRollups with a cancelled context succeeded")
			}
			if got := db.StaleBuckets(); got != stale {
				t.Fatalf("after a failed recomputation %d buckets are stale, want the %d before it", got, stale)
			}
			failed++
		case 1:
			if err := db.RefreshRollups(ctx); err != nil {
				t.Fatal(err)
			}
			if n := db.StaleBuckets(); n != 0 {
				t.Fatalf("%d buckets stale after a recomputation", n)
			}
		}
	}
	if err := db.RefreshRollups(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d snapshots, %d post observations, %d failed recomputations", len(d.snaps), len(d.posts), failed)
	d.checkSeries(t, db, pulse.GrainHour, pulse.GrainDay, pulse.GrainMonth, pulse.GrainYear)
	checkRollupsAgainstGroupBy(t, db)
}
