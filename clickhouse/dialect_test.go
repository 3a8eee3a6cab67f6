package clickhouse

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/clickhouse/internal/chdb"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/topics"
)

// ChdbLibEnv names the path of libchdb.so (npm's @chdb/lib-linux-x64-gnu
// ships it): with it set, TestSQLOnCurrentClickHouse runs every statement
// of this package on a current ClickHouse, in process.
const ChdbLibEnv = "CHDB_LIB_PATH"

// TestSQLOnCurrentClickHouse runs every DDL statement (including the
// version-gated ones), the inserts, the rollup recomputation, every query
// and the deletion through chDB (ClickHouse 26), writes the same data to
// the test server (18.16 on CI), and expects the same answers from both and
// from the Go model of the data. It skips without CHDB_LIB_PATH.
func TestSQLOnCurrentClickHouse(t *testing.T) {
	run := chdbMigrated(t, "the modern dialect is not checked (npm install @chdb/lib-linux-x64-gnu)")
	if v := run("SELECT version()"); !strings.HasPrefix(v, "2") {
		t.Fatalf("chDB version %q", v)
	}
	run("CREATE TABLE affected (user_id String, platform String, account_id String, bucket Date) ENGINE = Memory")
	run("CREATE TABLE inserted (user_id String, platform String, post_id String, d Date) ENGINE = Memory")

	db := mustOpenTest(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(testSeed(t), 6))
	d := genDataset(rng)
	d.snaps, d.posts = everyOther(d.snaps), everyOther(d.posts) // half the data: chDB inserts literal VALUES
	rng.Shuffle(len(d.posts), func(i, j int) { d.posts[i], d.posts[j] = d.posts[j], d.posts[i] })
	for i := 0; i < 4; i++ { // in chunks, posts out of order: every rollup path runs
		s := d.snaps[i*len(d.snaps)/4 : (i+1)*len(d.snaps)/4]
		p := d.posts[i*len(d.posts)/4 : (i+1)*len(d.posts)/4]
		if err := db.Write(ctx, s, p); err != nil {
			t.Fatal(err)
		}
		chdbWrite(t, run, s, p)
	}

	// A trend query filtered by platform may find nothing for a user with
	// no account there (the data are random); every query must find
	// something for some user, and agree for all.
	trendAnswered := map[int]bool{}
	for _, user := range d.users {
		for _, g := range []pulse.Grain{pulse.GrainHour, pulse.GrainDay, pulse.GrainMonth, pulse.GrainYear} {
			q := pulse.SeriesQuery{UserID: user, Grain: g, From: d.from.AddDate(-1, 0, 0), To: d.to}
			want, err := db.Series(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			stmts := hourlySeriesSQL(q)
			if g != pulse.GrainHour {
				if stmts, err = rollupSeriesSQL(q); err != nil {
					t.Fatal(err)
				}
			}
			got := mergePoints(parseAccountPoints(t, g, run(stmts[0].sql, stmts[0].args...)),
				parsePostPoints(t, run(stmts[1].sql, stmts[1].args...)))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s: chDB and the test server differ: %s", user, g, diffPoints(got, want))
			}
			if model := d.expectSeries(user, g); len(model) == 0 || !reflect.DeepEqual(got, model) {
				t.Errorf("%s %s: chDB differs from the model: %s", user, g, diffPoints(got, model))
			}
			if g == pulse.GrainHour {
				// What Series runs for hour points' post activity.
				var gains []pulse.Point
				f := strings.Split(strings.TrimSpace(run(hourlyObservedSQL(q).sql, hourlyObservedSQL(q).args...)), "\t")
				if start, ok := gainsScanStart(uint64(parseInt(t, f[0])), parseTime(t, f[1])); ok {
					st := hourlyGainsSQL(q, start)
					gains = hourlyGains(parseObservations(t, run(st.sql, st.args...)), q.From.Truncate(time.Hour))
				}
				published := run(hourlyPublishedSQL(q).sql, hourlyPublishedSQL(q).args...)
				var pub []pulse.Point
				for _, line := range lines(published) {
					f := strings.Split(line, "\t")
					pub = append(pub, pulse.Point{Platform: f[0], AccountID: f[1], Bucket: parseTime(t, f[2]), PostsPublished: uint64(parseInt(t, f[3]))})
				}
				got := mergePoints(parseAccountPoints(t, g, run(stmts[0].sql, stmts[0].args...)), addPostPoints(gains, pub))
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s %s: chDB's hourly post statements and the test server differ: %s", user, g, diffPoints(got, want))
				}
			}
		}
		for i, tq := range []pulse.TrendQuery{
			{Grain: pulse.GrainHour, From: d.to.Add(-5 * 24 * time.Hour), To: d.to, Window: 6},
			{Grain: pulse.GrainDay, From: d.from.AddDate(0, 0, 20), To: d.to, Metric: pulse.MetricLikesGained},
			{Grain: pulse.GrainMonth, From: d.from, To: d.to, Metric: pulse.MetricFollowing, Platforms: []string{string(d.snaps[0].Platform), "x"}},
			{Grain: pulse.GrainYear, From: d.from, To: d.to, Metric: pulse.MetricPostsPublished},
		} {
			tq.UserID = user
			want, err := db.Trends(ctx, tq)
			if err != nil {
				t.Fatal(err)
			}
			st, err := trendSQL(tq)
			if err != nil {
				t.Fatal(err)
			}
			got := parseTrends(t, tq.MetricOrDefault().Level(), run(st.sql, st.args...))
			trendAnswered[i] = trendAnswered[i] || len(want) > 0
			if len(want) == 0 && len(got) == 0 {
				continue
			}
			if !trendsNear(got, want) {
				t.Errorf("%s trend %s %s: chDB and the test server differ:\n chDB %+v\n test server %+v", user, tq.Grain, tq.MetricOrDefault(), got, want)
			}
		}
		fq := pulse.FeedQuery{UserID: user, Limit: 50, Before: d.to.Add(-7 * 24 * time.Hour), Platforms: []string{"x", "facebook", "instagram"}}
		want, err := db.Feed(ctx, fq)
		if err != nil {
			t.Fatal(err)
		}
		st := feedSQL(fq)
		if got := parseFeed(t, run(st.sql, st.args...)); !reflect.DeepEqual(got, want) || len(want) == 0 {
			t.Errorf("%s feed: chDB %d rows, test server %d rows, or they differ", user, len(got), len(want))
		}
		// The cursor form, and top posts by every rank.
		last := want[len(want)/2]
		variants := []pulse.FeedQuery{{UserID: user, Limit: 20, After: &pulse.PostKey{CreatedAt: last.CreatedAt, Platform: last.Platform, PostID: last.PostID}}}
		for _, r := range []pulse.PostRank{pulse.RankLikes, pulse.RankComments, pulse.RankShares, pulse.RankViews, pulse.RankEngagement} {
			variants = append(variants, pulse.FeedQuery{UserID: user, Limit: 10, Rank: r, From: d.from, To: d.to})
		}
		for _, vq := range variants {
			want, err := db.Feed(ctx, vq)
			if err != nil {
				t.Fatal(err)
			}
			st := feedSQL(vq)
			got := parseFeed(t, run(st.sql, st.args...))
			if len(got) != len(want) || len(want) == 0 {
				t.Errorf("%s feed %q: chDB %d rows, test server %d", user, vq.Rank, len(got), len(want))
				continue
			}
			for i := range want {
				g, w := got[i], want[i]
				if math.Abs(g.EngagementRate-w.EngagementRate) > 1e-12 {
					t.Errorf("%s feed %q [%d]: rate %v, test server %v", user, vq.Rank, i, g.EngagementRate, w.EngagementRate)
				}
				g.EngagementRate = w.EngagementRate
				if !reflect.DeepEqual(g, w) {
					t.Errorf("%s feed %q [%d]: chDB %+v, test server %+v", user, vq.Rank, i, g, w)
				}
			}
		}
		hq := pulse.PostHistoryQuery{UserID: user, Platform: last.Platform, PostID: last.PostID, From: d.from, To: d.to}
		hwant, err := db.PostHistory(ctx, hq)
		if err != nil {
			t.Fatal(err)
		}
		hst := postHistorySQL(hq)
		if got := lines(run(hst.sql, hst.args...)); len(got) != len(hwant) || len(hwant) == 0 {
			t.Errorf("%s post history: chDB %d hours, test server %d", user, len(got), len(hwant))
		}
	}
	for i := range 4 {
		if !trendAnswered[i] {
			t.Errorf("trend query %d found nothing for any user: it checks nothing", i)
		}
	}

	// The remaining statements: counting, rebuilding, deleting.
	run(`SELECT (SELECT count() FROM (SELECT 1 FROM account_metrics_hourly GROUP BY user_id, platform, account_id, hour)),
		(SELECT count() FROM (SELECT 1 FROM posts GROUP BY user_id, platform, post_id, hour))`)
	run(`SELECT DISTINCT user_id, platform, account_id, toDate(hour) FROM posts
		UNION ALL SELECT DISTINCT user_id, platform, account_id, toDate(created_at) FROM posts_current`)
	for _, table := range UserTables {
		run("ALTER TABLE "+quoteIdent(table)+" DELETE WHERE user_id = ?", d.users[0])
	}
	testkit.Eventually(t, 30*time.Second, func() error {
		if n := strings.TrimSpace(run("SELECT count() FROM system.mutations WHERE database = ? AND is_done = 0", "default")); n != "0" {
			return fmt.Errorf("chDB: %s mutations not done", n)
		}
		return nil
	})
	for _, table := range UserTables {
		if n := strings.TrimSpace(run("SELECT count() FROM "+table+" WHERE user_id = ?", d.users[0])); n != "0" {
			t.Errorf("chDB: %s keeps %s rows of the deleted user", table, n)
		}
	}
}

// chdbWrite does in chDB what DB.Write does on a server: the inserts, then
// the rollup statements with the touched buckets in the "affected" table.
func chdbWrite(t *testing.T, run func(string, ...any) string, snaps []topics.AccountSnapshot, posts []topics.Post) {
	t.Helper()
	var rows []string
	for _, s := range snaps {
		rows = append(rows, bindLiteral(t, "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", s.UserID, string(s.Platform), s.AccountID, s.LinkID,
			s.Handle, s.Hour, s.ObservedAt, s.Followers, s.Following, s.PostsCount, uint64(s.Version)))
	}
	if len(rows) > 0 {
		run(insertSnapshotsSQL + " VALUES " + strings.Join(rows, ", "))
	}
	rows = rows[:0]
	for _, p := range posts {
		rows = append(rows, bindLiteral(t, "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", p.UserID, string(p.Platform), p.AccountID, p.LinkID,
			p.PostID, p.CreatedAt, p.ObservedAt.Truncate(time.Hour), p.ObservedAt, p.Text, p.Permalink, p.Likes, p.Comments,
			p.Shares, p.Views, uint64(p.Version)))
	}
	if len(rows) > 0 {
		run(insertPostsSQL + " VALUES " + strings.Join(rows, ", "))
	}
	refresh := func(levels []rollupLevel, keys map[dayKey]struct{}, dailyArgs func(from, to time.Time) []any) {
		if len(keys) == 0 {
			return
		}
		run("TRUNCATE TABLE affected")
		var vals []string
		first, last := time.Time{}, time.Time{}
		for k := range keys {
			vals = append(vals, bindLiteral(t, "(?, ?, ?, ?)", k.user, k.platform, k.account, dateArg(k.day)))
			if first.IsZero() || k.day.Before(first) {
				first = k.day
			}
			if k.day.After(last) {
				last = k.day
			}
		}
		run("INSERT INTO affected VALUES " + strings.Join(vals, ", "))
		for _, lv := range levels {
			from, to := lv.span(first, last)
			args := []any{dateArg(from), dateArg(to)}
			if lv.grain == pulse.GrainDay {
				args = dailyArgs(from, to)
			}
			run(lv.sql, args...)
		}
	}
	refresh(accountLevels, snapshotBuckets(snaps), func(from, to time.Time) []any { return []any{from, to} })
	if len(posts) == 0 {
		return
	}
	keys := map[dayKey]struct{}{}
	var vals []string
	minHour := posts[0].ObservedAt
	for _, p := range posts {
		keys[dayKey{p.UserID, string(p.Platform), p.AccountID, utcDay(p.CreatedAt)}] = struct{}{}
		keys[dayKey{p.UserID, string(p.Platform), p.AccountID, utcDay(p.ObservedAt)}] = struct{}{}
		vals = append(vals, bindLiteral(t, "(?, ?, ?, ?)", p.UserID, string(p.Platform), p.PostID, dateArg(p.ObservedAt)))
		minHour = minTime(minHour, p.ObservedAt)
	}
	run("TRUNCATE TABLE inserted")
	run("INSERT INTO inserted VALUES " + strings.Join(vals, ", "))
	for _, line := range lines(run(laterObservationsSQL, utcDay(minHour))) {
		f := strings.Split(line, "\t")
		keys[dayKey{f[0], f[1], f[2], parseTime(t, f[3])}] = struct{}{}
	}
	refresh(postLevels, keys, postDailyArgs)
}

// bindLiteral replaces each ? in sql with the SQL literal of the next
// argument, as clickhouse-go's client-side binding does.
func bindLiteral(t *testing.T, sql string, args ...any) string {
	t.Helper()
	var b strings.Builder
	for _, r := range sql {
		if r != '?' {
			b.WriteRune(r)
			continue
		}
		if len(args) == 0 {
			t.Fatalf("too few arguments for %s", sql)
		}
		b.WriteString(literal(t, args[0]))
		args = args[1:]
	}
	if len(args) > 0 {
		t.Fatalf("%d arguments left over for %s", len(args), sql)
	}
	return b.String()
}

func literal(t *testing.T, v any) string {
	switch v := v.(type) {
	case string:
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
	case time.Time:
		return v.UTC().Format("toDateTime('2006-01-02 15:04:05', 'UTC')")
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case []string:
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = literal(t, s)
		}
		return "[" + strings.Join(out, ", ") + "]"
	}
	t.Fatalf("no literal for %T", v)
	return ""
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func parseTime(t *testing.T, s string) time.Time {
	layout := time.DateTime
	if len(s) == len(time.DateOnly) {
		layout = time.DateOnly
	}
	v, err := time.ParseInLocation(layout, s, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func parseInt(t *testing.T, s string) int64 {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func parseAccountPoints(t *testing.T, g pulse.Grain, out string) []pulse.Point {
	var points []pulse.Point
	for _, line := range lines(out) {
		f := strings.Split(line, "\t")
		p := pulse.Point{Platform: f[0], AccountID: f[1], Bucket: parseTime(t, f[2]), Handle: f[3], Followers: parseInt(t, f[4])}
		sum := p.Followers
		if g == pulse.GrainHour {
			p.Following, p.PostsCount = parseInt(t, f[5]), parseInt(t, f[6])
		} else {
			p.FollowersMin, p.FollowersMax, sum = parseInt(t, f[5]), parseInt(t, f[6]), parseInt(t, f[7])
			p.Following, p.PostsCount, p.Hours = parseInt(t, f[8]), parseInt(t, f[9]), uint64(parseInt(t, f[10]))
		}
		points = append(points, accountPoint(g, p, sum))
	}
	return points
}

// parseObservations parses hourlyGainsSQL's rows (arrays as ClickHouse
// prints them in TSV: [1,2] and ['2026-01-01 00:00:00']).
func parseObservations(t *testing.T, out string) []postObservations {
	t.Helper()
	elems := func(s string) []string {
		s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		if s == "" {
			return nil
		}
		return strings.Split(strings.ReplaceAll(s, "'", ""), ",")
	}
	var obs []postObservations
	for _, line := range lines(out) {
		f := strings.Split(line, "\t")
		o := postObservations{platform: f[0], account: f[1]}
		for _, h := range elems(f[2]) {
			o.hours = append(o.hours, parseTime(t, h))
		}
		for _, v := range elems(f[3]) {
			o.versions = append(o.versions, uint64(parseInt(t, v)))
		}
		for _, v := range elems(f[4]) {
			o.likes = append(o.likes, parseInt(t, v))
		}
		for _, v := range elems(f[5]) {
			o.comments = append(o.comments, parseInt(t, v))
		}
		obs = append(obs, o)
	}
	return obs
}

func parsePostPoints(t *testing.T, out string) []pulse.Point {
	var points []pulse.Point
	for _, line := range lines(out) {
		f := strings.Split(line, "\t")
		points = append(points, pulse.Point{Platform: f[0], AccountID: f[1], Bucket: parseTime(t, f[2]),
			PostsPublished: uint64(parseInt(t, f[3])), LikesGained: parseInt(t, f[4]), CommentsGained: parseInt(t, f[5])})
	}
	return points
}

func parseFeed(t *testing.T, out string) []pulse.PostRow {
	var rows []pulse.PostRow
	for _, line := range lines(out) {
		f := strings.Split(line, "\t")
		if len(f) != 13 {
			t.Fatalf("feed row %q: %d fields, want 13", line, len(f))
		}
		rate, err := strconv.ParseFloat(f[12], 64)
		if err != nil {
			t.Fatalf("feed row %q: rate: %v", line, err)
		}
		rows = append(rows, pulse.PostRow{Platform: f[0], AccountID: f[1], PostID: f[2], CreatedAt: parseTime(t, f[3]), Text: f[4],
			Permalink: f[5], Likes: parseInt(t, f[6]), Comments: parseInt(t, f[7]), Shares: parseInt(t, f[8]), Views: parseInt(t, f[9]),
			Reach: parseInt(t, f[10]), Saves: parseInt(t, f[11]), EngagementRate: rate})
	}
	return rows
}

func everyOther[T any](rows []T) []T {
	var out []T
	for i := 0; i < len(rows); i += 2 {
		out = append(out, rows[i])
	}
	return out
}

// TestClusterDDLOnCurrentClickHouse parses the cluster form of every
// migration (cluster.go) with ClickHouse 26's own parser (formatQuery in
// chDB). Running it needs ZooKeeper/Keeper and a cluster, which chDB does
// not have; TestClusterStatements checks what the statements say.
func TestClusterDDLOnCurrentClickHouse(t *testing.T) {
	lib := os.Getenv(ChdbLibEnv)
	if lib == "" {
		t.Skipf("%s not set: the cluster DDL is not parsed by a current ClickHouse", ChdbLibEnv)
	}
	c, err := chdb.Open(lib, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	all, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	check := func(st string) {
		t.Helper()
		quoted := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(st)
		out, err := c.Query("SELECT formatQuery('"+quoted+"')", "TSVRaw")
		if err != nil {
			t.Errorf("ClickHouse 26 rejects:\n%s\n%v", st, err)
			return
		}
		if !strings.HasPrefix(st, "INSERT") && !strings.Contains(out, "ON CLUSTER pulse") {
			t.Errorf("formatted statement lost ON CLUSTER:\n%s", out)
		}
		n++
	}
	for _, m := range all {
		if m.sql == "" {
			continue
		}
		stmts, err := clusterStatements(m.sql, "pulse", "pulse")
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		for _, st := range stmts {
			check(st)
		}
	}
	check(schemaMigrationsSQL("pulse", "pulse"))
	check("ALTER TABLE posts_local ON CLUSTER pulse DELETE WHERE user_id = 'u'")
	if _, err := c.Query("SELECT formatQuery('CREATE TABLE ON CLUSTER')", "TSVRaw"); err == nil {
		t.Error("formatQuery accepted a broken statement: the check above proves nothing")
	}
	t.Logf("%d cluster statements parsed by ClickHouse %s", n, strings.TrimSpace(must(c.Query("SELECT version()", "TSVRaw"))))
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

// parseTrends reads the trend statement's TabSeparated rows.
func parseTrends(t *testing.T, level bool, out string) []pulse.Trend {
	var trends []pulse.Trend
	for _, line := range lines(out) {
		f := strings.Split(line, "\t")
		if len(f) != 18 {
			t.Fatalf("trend row has %d fields: %q", len(f), line)
		}
		r := trendRow{group: f[0]}
		for _, s := range tsvArray(f[1]) {
			r.buckets = append(r.buckets, parseTime(t, s))
		}
		ints := func(s string) (out []int64) {
			for _, v := range tsvArray(s) {
				out = append(out, parseInt(t, v))
			}
			return out
		}
		floats := func(s string) (out []float64) {
			for _, v := range tsvArray(s) {
				out = append(out, parseFloat(t, v))
			}
			return out
		}
		r.vals, r.fol, r.gained, r.chg = ints(f[2]), ints(f[3]), ints(f[4]), ints(f[5])
		for _, v := range ints(f[6]) {
			r.cur = append(r.cur, uint8(v))
		}
		r.ma, r.fit, r.eng = floats(f[7]), floats(f[8]), floats(f[9])
		r.value, r.prev, r.hasPrev = parseInt(t, f[10]), parseInt(t, f[11]), uint8(parseInt(t, f[12]))
		r.slope, r.intercept, r.r2 = parseFloat(t, f[13]), parseFloat(t, f[14]), parseFloat(t, f[15])
		r.best, r.worst = uint64(parseInt(t, f[16])), uint64(parseInt(t, f[17]))
		trends = append(trends, r.trend(level))
	}
	sort.Slice(trends, func(i, j int) bool { return trends[i].Platform < trends[j].Platform })
	return trends
}

// tsvArray splits a TabSeparated array such as [1,2] or ['a','b'].
func tsvArray(s string) []string {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.Trim(p, "'")
	}
	return parts
}

func parseFloat(t *testing.T, s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// trendsNear compares trends, floats up to rounding.
func trendsNear(a, b []pulse.Trend) bool {
	near := func(x, y float64) bool { return math.Abs(x-y) <= 1e-9*math.Max(1, math.Max(math.Abs(x), math.Abs(y))) }
	pointsNear := func(p, q []pulse.TrendPoint) bool {
		if len(p) != len(q) {
			return false
		}
		for i := range p {
			x, y := p[i], q[i]
			if !x.Bucket.Equal(y.Bucket) || x.Value != y.Value || x.Change != y.Change || x.HasChange != y.HasChange ||
				x.Followers != y.Followers || x.Gained != y.Gained || !near(x.MovingAvg, y.MovingAvg) || !near(x.Fit, y.Fit) ||
				!near(x.EngagementRate, y.EngagementRate) {
				return false
			}
		}
		return true
	}
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Platform != y.Platform || x.Value != y.Value || x.PreviousValue != y.PreviousValue || x.HasPrevious != y.HasPrevious ||
			x.Best != y.Best || x.Worst != y.Worst || !near(x.SlopePerDay, y.SlopePerDay) || !near(x.Intercept, y.Intercept) ||
			!near(x.R2, y.R2) || !pointsNear(x.Points, y.Points) || !pointsNear(x.Previous, y.Previous) {
			return false
		}
	}
	return true
}

// TestInsightsSQLOnCurrentClickHouse runs the insights statement of every
// grain on chDB over rows with several versions of an hour and unreported
// (-1) values, and expects, summed by sumInsights, each bucket's sums of
// the hours' latest values, none (-1 here) where no hour reported.
// TestInsightsAtEveryGrain checks the same statements on the test server.
func TestInsightsSQLOnCurrentClickHouse(t *testing.T) {
	run := chdbMigrated(t, "the modern dialect is not checked")
	d1, d2 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	var rows []string
	for _, r := range []struct {
		hour             time.Time
		reach, views, pv int64
		version          uint64
	}{
		{d1, 20, -1, 4, 2}, {d1, 10, -1, 3, 1}, // the later version first
		{d2, 5, 7, -1, 3},
	} {
		rows = append(rows, bindLiteral(t, "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "u", "x", "a", "l", r.hour, r.hour, r.reach, r.views, r.pv, r.version))
	}
	run("INSERT INTO account_insights_hourly (user_id, platform, account_id, link_id, hour, observed_at, reach, views, profile_views, version) VALUES " + strings.Join(rows, ", "))
	for _, tc := range []struct {
		grain pulse.Grain
		want  string
	}{
		{pulse.GrainHour, "x\ta\t2026-01-01 00:00:00\t20\t-1\t4\nx\ta\t2026-01-02 00:00:00\t5\t7\t-1\n"},
		{pulse.GrainDay, "x\ta\t2026-01-01 00:00:00\t20\t-1\t4\nx\ta\t2026-01-02 00:00:00\t5\t7\t-1\n"},
		{pulse.GrainMonth, "x\ta\t2026-01-01 00:00:00\t25\t7\t4\n"},
		{pulse.GrainYear, "x\ta\t2026-01-01 00:00:00\t25\t7\t4\n"},
	} {
		st, err := insightsSQL(pulse.SeriesQuery{UserID: "u", Grain: tc.grain, From: d1, To: d2.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var hours []insightHour
		for _, line := range lines(run(st.sql+"\nORDER BY hour", st.args...)) {
			f := strings.Split(line, "\t")
			if len(f) != 6 {
				t.Fatalf("insights row %q", line)
			}
			hours = append(hours, insightHour{platform: f[0], account: f[1], hour: parseTime(t, f[2]),
				reach: parseInt(t, f[3]), views: parseInt(t, f[4]), pv: parseInt(t, f[5])})
		}
		var got []string
		for _, p := range sumInsights(tc.grain, hours) {
			got = append(got, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", p.Platform, p.AccountID, p.Bucket.Format(time.DateTime),
				orMinus(p.Reach), orMinus(p.Views), orMinus(p.ProfileViews)))
		}
		want := lines(tc.want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: chDB answered\n%q\nwant\n%q", tc.grain, got, want)
		}
	}
}

// orMinus formats a reported metric, or -1 for none.
func orMinus(n *int64) string {
	if n == nil {
		return "-1"
	}
	return strconv.FormatInt(*n, 10)
}

// chdbQuery opens chDB for the test (closed at its end) and returns a
// function that runs sql with args bound as literals and returns its
// TabSeparated answer, failing the test on an error. Without
// CHDB_LIB_PATH it skips the test, saying why.
func chdbQuery(t *testing.T, skipped string) func(sql string, args ...any) string {
	t.Helper()
	lib := os.Getenv(ChdbLibEnv)
	if lib == "" {
		t.Skipf("%s not set: %s", ChdbLibEnv, skipped)
	}
	c, err := chdb.Open(lib, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return func(sql string, args ...any) string {
		t.Helper()
		out, err := c.Query(bindLiteral(t, sql, args...), "TabSeparated")
		if err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
		return out
	}
}

// chdbMigrated is chdbQuery on a chDB that every migration has run on.
func chdbMigrated(t *testing.T, skipped string) func(sql string, args ...any) string {
	t.Helper()
	run := chdbQuery(t, skipped)
	all, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.sql != "" {
			run(m.sql)
		}
	}
	return run
}
