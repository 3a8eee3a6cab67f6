package api_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/pulsehq/pulse/api"
	"github.com/pulsehq/pulse/clickhouse/chtest"
)

// table is a decoded export: column names and rows of values as strings
// (timestamps as RFC 3339 UTC, floats with strconv's shortest form), so
// every reader's answer compares alike.
type table struct {
	cols []string
	rows [][]string
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// readArrowRecords turns Arrow records into a table.
func readArrowRecords(t *testing.T, schema *arrow.Schema, recs []arrow.RecordBatch) table {
	t.Helper()
	var tb table
	for _, f := range schema.Fields() {
		tb.cols = append(tb.cols, f.Name)
	}
	for _, rec := range recs {
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]string, rec.NumCols())
			for c, col := range rec.Columns() {
				switch a := col.(type) {
				case *array.String:
					row[c] = a.Value(i)
				case *array.Int64:
					row[c] = strconv.FormatInt(a.Value(i), 10)
				case *array.Float64:
					row[c] = fmtFloat(a.Value(i))
				case *array.Timestamp:
					ts := a.DataType().(*arrow.TimestampType)
					if ts.Unit != arrow.Millisecond || ts.TimeZone != "UTC" {
						t.Fatalf("column %s: %s, want timestamp[ms, tz=UTC]", schema.Field(c).Name, ts)
					}
					row[c] = time.UnixMilli(int64(a.Value(i))).UTC().Format(time.RFC3339)
				default:
					t.Fatalf("column %s: unexpected type %s", schema.Field(c).Name, col.DataType())
				}
			}
			tb.rows = append(tb.rows, row)
		}
	}
	return tb
}

// readParquet reads a Parquet file with arrow-go's reader.
func readParquet(t *testing.T, body []byte) table {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parquet: %v", err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1000}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 1000)
	defer tr.Release()
	var recs []arrow.RecordBatch
	for tr.Next() {
		rec := tr.RecordBatch()
		rec.Retain()
		defer rec.Release()
		recs = append(recs, rec)
	}
	return readArrowRecords(t, tbl.Schema(), recs)
}

// readArrowStream reads an Arrow IPC stream.
func readArrowStream(t *testing.T, body []byte) table {
	t.Helper()
	r, err := ipc.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("arrow: %v", err)
	}
	defer r.Release()
	var recs []arrow.RecordBatch
	for r.Next() {
		rec := r.RecordBatch()
		rec.Retain()
		defer rec.Release()
		recs = append(recs, rec)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return readArrowRecords(t, r.Schema(), recs)
}

// readCSV reads the CSV export, normalizing timestamps and floats.
func readCSV(t *testing.T, body []byte, timeCols, floatCols map[string]bool) table {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("csv: %v (%d records)", err, len(recs))
	}
	tb := table{cols: recs[0]}
	for _, rec := range recs[1:] {
		for c, v := range rec {
			switch {
			case timeCols[tb.cols[c]]:
				ts, err := time.Parse(time.RFC3339Nano, strings.Replace(v, " ", "T", 1))
				if err != nil {
					// arrow's CSV writer prints "2006-01-02 15:04:05Z" style.
					if ts, err = time.Parse("2006-01-02 15:04:05Z07:00", v); err != nil {
						t.Fatalf("csv time %q: %v", v, err)
					}
				}
				rec[c] = ts.UTC().Format(time.RFC3339)
			case floatCols[tb.cols[c]]:
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("csv float %q: %v", v, err)
				}
				rec[c] = fmtFloat(f)
			}
		}
		tb.rows = append(tb.rows, rec)
	}
	return tb
}

var metricsCols = []string{"platform", "account_id", "handle", "bucket", "followers", "followers_min", "followers_max",
	"followers_avg", "following", "posts_count", "hours", "posts_published", "likes_gained", "comments_gained"}

var postsCols = []string{"platform", "account_id", "post_id", "created_at", "text", "permalink", "likes", "comments", "shares", "views"}

// TestExportMatchesGraphQL downloads metrics (hour and day grain, across a
// year boundary) and posts in every format, reads each file back with an
// independent reader (arrow-go's Parquet and IPC readers, encoding/csv) and
// compares every value with what GraphQL answers for the same selection.
func TestExportMatchesGraphQL(t *testing.T) {
	ch := chtest.MustOpen(t)
	e := newEnv(t, func(c *api.Config) { c.Metrics = ch })
	b := e.browser(t)
	userID, _ := b.signUp("export@example.com")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 14))
	d, _ := genTrendData(rng, userID)
	other, _ := genTrendData(rng, "someone-else")
	for i := range d.posts { // text that CSV must quote
		d.posts[i].Text = fmt.Sprintf("post, \"%s\"\nline two", d.posts[i].PostID)
	}
	if err := ch.Write(t.Context(), append(d.snaps, other.snaps...), append(d.posts, other.posts...)); err != nil {
		t.Fatal(err)
	}

	get := func(params url.Values) []byte {
		t.Helper()
		r := b.get("/api/v1/export?" + params.Encode())
		if r.StatusCode != http.StatusOK {
			t.Fatalf("export %s: %d %s", params.Encode(), r.StatusCode, r.body)
		}
		return r.body
	}
	timeCols := map[string]bool{"bucket": true, "created_at": true}
	floatCols := map[string]bool{"followers_avg": true}

	for _, c := range []struct{ grain, from, to string }{
		{"HOUR", "2025-12-30T00:00:00Z", "2026-01-02T12:00:00Z"},
		{"DAY", "2025-11-15T00:00:00Z", "2026-02-10T00:00:00Z"},
	} {
		var got struct {
			Metrics []struct {
				Platform, AccountID, Handle string
				Points                      []struct {
					At                                          time.Time
					Followers, FollowersMin, FollowersMax       int64
					FollowersAvg                                float64
					Following, PostsCount, Hours                int64
					PostsPublished, LikesGained, CommentsGained int64
				}
			}
		}
		b.mustGraphQL(`query($g: Grain!, $from: Time!, $to: Time!) { metrics(grain: $g, from: $from, to: $to) {
			platform accountId handle points { at followers followersMin followersMax followersAvg following postsCount hours
			postsPublished likesGained commentsGained } } }`, map[string]any{"g": c.grain, "from": c.from, "to": c.to}, &got)
		want := table{cols: metricsCols}
		for _, s := range got.Metrics {
			for _, p := range s.Points {
				handle := ""
				if p.Hours > 0 {
					handle = s.Handle
				}
				want.rows = append(want.rows, []string{strings.ToLower(s.Platform), s.AccountID, handle, p.At.UTC().Format(time.RFC3339),
					itoa(p.Followers), itoa(p.FollowersMin), itoa(p.FollowersMax), fmtFloat(p.FollowersAvg), itoa(p.Following),
					itoa(p.PostsCount), itoa(p.Hours), itoa(p.PostsPublished), itoa(p.LikesGained), itoa(p.CommentsGained)})
			}
		}
		if len(want.rows) < 10 {
			t.Fatalf("%s: GraphQL has only %d rows: the case tests little", c.grain, len(want.rows))
		}
		params := url.Values{"dataset": {"metrics"}, "grain": {strings.ToLower(c.grain)}, "from": {c.from}, "to": {c.to}}
		for format, read := range map[string]func([]byte) table{
			"parquet": func(body []byte) table { return readParquet(t, body) },
			"arrow":   func(body []byte) table { return readArrowStream(t, body) },
			"csv":     func(body []byte) table { return readCSV(t, body, timeCols, floatCols) },
		} {
			params.Set("format", format)
			compareTables(t, c.grain+" "+format, read(get(params)), want)
		}
	}

	// Posts: everything the feed shows, oldest first in the export.
	var feed struct {
		Feed []struct {
			ID, Platform, AccountID, Text, Permalink string
			CreatedAt                                time.Time
			Likes, Comments, Shares, Views           int64
		}
	}
	b.mustGraphQL(`{ feed(limit: 200) { id platform accountId createdAt text permalink likes comments shares views } }`, nil, &feed)
	if len(feed.Feed) == 0 || len(feed.Feed) == 200 {
		t.Fatalf("feed has %d posts; want some, fewer than a page", len(feed.Feed))
	}
	want := table{cols: postsCols}
	for i := len(feed.Feed) - 1; i >= 0; i-- {
		p := feed.Feed[i]
		want.rows = append(want.rows, []string{strings.ToLower(p.Platform), p.AccountID, p.ID, p.CreatedAt.UTC().Format(time.RFC3339),
			p.Text, p.Permalink, itoa(p.Likes), itoa(p.Comments), itoa(p.Shares), itoa(p.Views)})
	}
	params := url.Values{"dataset": {"posts"}, "from": {"2025-01-01T00:00:00Z"}, "to": {"2027-01-01T00:00:00Z"}}
	for format, read := range map[string]func([]byte) table{
		"parquet": func(body []byte) table { return readParquet(t, body) },
		"arrow":   func(body []byte) table { return readArrowStream(t, body) },
		"csv":     func(body []byte) table { return readCSV(t, body, timeCols, floatCols) },
	} {
		params.Set("format", format)
		compareTables(t, "posts "+format, read(get(params)), want)
	}

	// Bounds and scope.
	for _, bad := range []string{
		"dataset=metrics&grain=hour&from=2025-01-01T00:00:00Z&to=2026-06-01T00:00:00Z", // hourly over 366 days
		"dataset=metrics&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",            // to before from
		"dataset=tweets&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
		"format=xlsx&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
		"platforms=myspace&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
		"from=yesterday&to=2026-01-02T00:00:00Z",
	} {
		if r := b.get("/api/v1/export?" + bad); r.StatusCode != http.StatusBadRequest {
			t.Errorf("export?%s: %d, want 400", bad, r.StatusCode)
		}
	}
	anon := e.browser(t)
	if r := anon.get("/api/v1/export?from=2025-01-01T00:00:00Z&to=2027-01-01T00:00:00Z"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous export: %d, want 401", r.StatusCode)
	}
	stranger := e.browser(t)
	stranger.signUp("stranger@example.com")
	r := stranger.get("/api/v1/export?format=csv&dataset=posts&from=2025-01-01T00:00:00Z&to=2027-01-01T00:00:00Z")
	if tb := readCSV(t, r.body, timeCols, floatCols); len(tb.rows) != 0 {
		t.Errorf("another user's export has %d rows", len(tb.rows))
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func compareTables(t *testing.T, name string, got, want table) {
	t.Helper()
	if !reflect.DeepEqual(got.cols, want.cols) {
		t.Errorf("%s: columns %v, want %v", name, got.cols, want.cols)
		return
	}
	if len(got.rows) != len(want.rows) {
		t.Errorf("%s: %d rows, want %d", name, len(got.rows), len(want.rows))
		return
	}
	for i := range got.rows {
		if !reflect.DeepEqual(got.rows[i], want.rows[i]) {
			t.Errorf("%s row %d:\n got %q\nwant %q", name, i, got.rows[i], want.rows[i])
			return
		}
	}
}
