package bench_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/loadgen"
	"github.com/pulsehq/pulse/platforms"
	_ "github.com/pulsehq/pulse/platforms/facebook"
	_ "github.com/pulsehq/pulse/platforms/instagram"
	_ "github.com/pulsehq/pulse/platforms/x"
	"github.com/pulsehq/pulse/processors/normalizer"
	"github.com/pulsehq/pulse/sinks/chsink"
	"github.com/pulsehq/pulse/topics"
)

// The default history (1,000 users: 144,000 payloads, about 435,000 rows)
// is large enough that the run's fixed latencies (the sink's first flush
// interval and its last rollup recomputation) weigh little next to the
// throughput; it was 200 before 2026-11-30.
var replayUsers = flag.Int("replay-users", 1000, "users in the history of BenchmarkReplay and BenchmarkReplayEstablished (× 3 platforms × -replay-hours fetches)")
var replayTrace = flag.Bool("replay-trace", false, "BenchmarkReplay: print the sink's inserts and rollup recomputations as they happen, and when the normalizer finished")
var replayCPUProfile = flag.String("replay-cpuprofile", "", "BenchmarkReplay, BenchmarkReplayEstablished: write a CPU profile of the replay alone (from the start of the timed replay until its last rollup recomputation; not the history's generation nor the bare insert) to this file, which each run overwrites (the last run's is left); do not combine with -test.cpuprofile")
var memTables = flag.Bool("replay-mem-tables", false, "keep goka tables in memory instead of LevelDB")

func tableStorage(tb testing.TB) storage.Builder {
	if *memTables {
		return storage.MemoryBuilder()
	}
	local, err := kafka.TableStorage(tb.TempDir(), kafka.TableStorageConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	return local
}

var replayMaxPending = flag.Int("replay-max-pending", 0, "BenchmarkReplay: the sink's MaxPendingBatches (0: its default; 1: a rollup recomputation before almost every insert, as before they were decoupled)")

var replayRefreshInterval = flag.Duration("replay-refresh-interval", 0, "BenchmarkReplay: the sink's RefreshInterval (0: its default)")

var replayBatchRows = flag.Int("replay-batch-rows", 0, "BenchmarkReplay: the sink's BatchRows (0: its default)")

var replayBatchBytes = flag.Int("replay-batch-bytes", 0, "BenchmarkReplay: the sink's BatchBytes (0: its default)")

var replayFlushInterval = flag.Duration("replay-flush-interval", 0, "BenchmarkReplay: the sink's FlushInterval (0: its default)")

var replayHours = flag.Int("replay-hours", 48, "hours of history per account in BenchmarkReplay and BenchmarkReplayEstablished")

// establishedAge is how long the accounts of BenchmarkReplayEstablished
// existed before its history: a year.
const establishedAge = 365 * 24

// replayGen is the replay's history: -replay-users × 3 platforms ×
// -replay-hours fetches of accounts that existed age hours before it
// starts.
func replayGen(tb testing.TB, age int) *loadgen.Gen {
	g, err := loadgen.New(loadgen.Config{Seed: 1, Users: *replayUsers, Hours: *replayHours, Age: age, PostEvery: 12, PostsPerPage: 5})
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// history is what the generator's history normalizes to.
type history struct {
	snaps []topics.AccountSnapshot
	posts []topics.Post
}

func expected(g *loadgen.Gen) history {
	var h history
	for i := range g.Fetches() {
		a, hr := g.Fetch(i)
		h.snaps = append(h.snaps, g.Snapshot(a, hr))
		h.posts = append(h.posts, g.Posts(a, hr)...)
	}
	return h
}

// rowCounts are how many rows of each kind a history has.
type rowCounts struct{ snaps, posts int }

func (h history) counts() rowCounts { return rowCounts{len(h.snaps), len(h.posts)} }

func (c rowCounts) rows() int { return c.snaps + c.posts }

// produceHistory starts a fresh broker with Pulse's topics and produces
// every payload of g into the raw-payload topic, keyed by link as the
// fetcher does.
func produceHistory(tb testing.TB, g *loadgen.Gen) *kafka.Goka {
	tb.Helper()
	br, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(br.Close)
	ctx := context.Background()
	repl, err := kafka.EnsureTopics(ctx, br.Addrs(), 0, kafka.PulseTopics()...)
	if err != nil {
		tb.Fatal(err)
	}
	cl, err := kafka.NewClient(br.Addrs())
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, 0, 4096)
	flush := func() {
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			tb.Fatal(err)
		}
		recs = recs[:0]
	}
	for i := range g.Fetches() {
		a, h := g.Fetch(i)
		v, err := g.Encoded(a, h)
		if err != nil {
			tb.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: topics.RawPayloads, Key: []byte(g.Account(a).LinkID), Value: v})
		if len(recs) == cap(recs) {
			flush()
		}
	}
	flush()
	return kafka.NewGoka(br.Addrs(), repl)
}

func allParsers(tb testing.TB) map[topics.Platform]normalizer.Parser {
	tb.Helper()
	out := map[topics.Platform]normalizer.Parser{}
	for _, p := range []topics.Platform{topics.X, topics.Facebook, topics.Instagram} {
		c, err := platforms.New(p, platforms.Config{})
		if err != nil {
			tb.Fatal(err)
		}
		out[p] = c
	}
	return out
}

var quietLog = slog.New(slog.DiscardHandler)

type quietGoka struct{}

func (quietGoka) Print(...any)          {}
func (quietGoka) Println(...any)        {}
func (quietGoka) Printf(string, ...any) {}

// replayRun is what one replay measured.
type replayRun struct {
	total      time.Duration // until the sink wrote every row
	normalized time.Duration // until the normalizer emitted every row
	sink       chsink.Stats
	url        string
	cpu        time.Duration // this process's CPU time (user and system) over total
	ch         serverCPU     // ClickHouse's over total
}

// serverCPU is what ClickHouse's system.events count so far: its queries'
// CPU time (OSCPUVirtualTimeMicroseconds, user and system, every thread
// of every query) and its merges' time (MergesTimeMilliseconds). They
// count the whole server's work, so a replay's share is only its own on a
// server nothing else uses meanwhile (the benchmarks run one at a time).
type serverCPU struct{ query, merges time.Duration }

func readServerCPU(tb testing.TB, url string) serverCPU {
	tb.Helper()
	conn := bareConn(tb, url)
	defer conn.Close()
	var q, m uint64
	if err := conn.QueryRow(context.Background(), `SELECT sumIf(value, event = 'OSCPUVirtualTimeMicroseconds'), sumIf(value, event = 'MergesTimeMilliseconds') FROM system.events`).Scan(&q, &m); err != nil {
		tb.Fatalf("clickhouse system.events: %v", err)
	}
	return serverCPU{time.Duration(q) * time.Microsecond, time.Duration(m) * time.Millisecond}
}

func (c serverCPU) since(before serverCPU) serverCPU {
	return serverCPU{c.query - before.query, c.merges - before.merges}
}

// processCPU is the CPU time this process has used so far.
func processCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// replayOnce runs the normalizer (LevelDB table storage, as `pulse
// processor` with a state dir) and the sink (default batching) over the
// history in g's broker until ClickHouse holds every row, and returns the
// time from the moment both are started and the normalizer is ready until
// the rollups of every row are recomputed, and the time until the
// normalizer had emitted every row.
func replayOnce(b *testing.B, gk *kafka.Goka, want rowCounts) replayRun {
	b.Helper()
	url := chtest.URL(b)
	db := chtest.MustOpenURL(b, url)
	group := fmt.Sprintf("bench-replay-%d", time.Now().UnixNano())
	p, err := normalizer.New(normalizer.Config{Brokers: gk.Brokers, Parsers: allParsers(b), Group: goka.Group(group + "-normalizer"),
		Logger: quietLog, Options: append(gk.ProcessorOptions(),
			goka.WithStorageBuilder(tableStorage(b)), goka.WithLogger(quietGoka{}))})
	if err != nil {
		b.Fatal(err)
	}
	s, err := chsink.New(chsink.Config{Brokers: gk.Brokers, Store: db, Group: group + "-sink", Logger: quietLog,
		MaxPendingBatches: *replayMaxPending, RefreshInterval: *replayRefreshInterval, BatchRows: *replayBatchRows, BatchBytes: *replayBatchBytes, FlushInterval: *replayFlushInterval})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	// ClickHouse's counters before anything runs: reading them between
	// the normalizer's start and the timer's would leave more of the
	// replay untimed (nothing queries ClickHouse until the sink inserts).
	ch0 := readServerCPU(b, url)
	go func() { defer wg.Done(); errs <- normalizer.Run(ctx, p) }()
	go func() { defer wg.Done(); errs <- s.Run(ctx) }()
	defer func() {
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				b.Error(err)
			}
		}
	}()
	if err := p.WaitForReady(); err != nil {
		b.Fatal(err)
	}
	adm, err := kafka.NewAdmin(gk.Brokers)
	if err != nil {
		b.Fatal(err)
	}
	defer adm.Close()
	if *replayCPUProfile != "" {
		f, err := os.Create(*replayCPUProfile)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				b.Error(err)
			}
		}()
	}
	cpu0 := processCPU(b)
	start := time.Now()
	deadline := start.Add(10 * time.Minute)
	var normalized time.Duration
	lastCheck := start
	var lastSt chsink.Stats
	for {
		st := s.Stats()
		if *replayTrace && (st.Flushes != lastSt.Flushes || st.Refreshes != lastSt.Refreshes) {
			fmt.Printf("%6dms flushes %d refreshes %d snaps %d posts %d pending %d\n", time.Since(start).Milliseconds(), st.Flushes, st.Refreshes, st.Snapshots, st.Posts, st.PendingBatches)
			lastSt = st
		}
		if st.Snapshots >= int64(want.snaps) && st.Posts >= int64(want.posts) {
			break
		}
		// The normalizer's end, checked every 20 ms (an admin request).
		if normalized == 0 && time.Since(lastCheck) >= 20*time.Millisecond {
			lastCheck = time.Now()
			if endOffsets(b, adm, topics.AccountSnapshots) >= int64(want.snaps) && endOffsets(b, adm, topics.Posts) >= int64(want.posts) {
				normalized = time.Since(start)
				if *replayTrace {
					fmt.Printf("%6dms normalized\n", normalized.Milliseconds())
				}
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("sink stats %+v after 10 minutes, want %d snapshots and %d posts", st, want.snaps, want.posts)
		}
		time.Sleep(2 * time.Millisecond)
	}
	// The end: the last rollup recomputation and commit, which follow
	// the last insert.
	for s.Stats().PendingBatches > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("sink stats %+v after 10 minutes: rollups not recomputed", s.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
	total := time.Since(start)
	cpu := processCPU(b) - cpu0
	ch := readServerCPU(b, url).since(ch0)
	if normalized == 0 {
		normalized = total
	}
	return replayRun{total: total, normalized: normalized, sink: s.Stats(), url: url, cpu: cpu, ch: ch}
}

// bareInsert inserts the same rows with one column-wise PrepareBatch per
// table and returns the time it took: the baseline.
func bareInsert(b *testing.B, want history) time.Duration {
	b.Helper()
	url := chtest.URL(b)
	chtest.MustOpenURL(b, url)
	conn := bareConn(b, url)
	defer conn.Close()
	ctx := context.Background()
	send := func(sql string, cols ...any) {
		batch, err := conn.PrepareBatch(ctx, sql)
		if err != nil {
			b.Fatal(err)
		}
		for i, c := range cols {
			if err := batch.Column(i).Append(c); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Send(); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	n := len(want.snaps)
	users, plats, accts, links, handles := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	hours, observed := make([]time.Time, n), make([]time.Time, n)
	followers, following, postsCount, versions := make([]int64, n), make([]int64, n), make([]int64, n), make([]uint64, n)
	for i := range want.snaps {
		s := &want.snaps[i]
		users[i], plats[i], accts[i], links[i], handles[i] = s.UserID, string(s.Platform), s.AccountID, s.LinkID, s.Handle
		hours[i], observed[i] = s.Hour, s.ObservedAt
		followers[i], following[i], postsCount[i], versions[i] = s.Followers, s.Following, s.PostsCount, uint64(s.Version)
	}
	send(`INSERT INTO account_metrics_hourly (user_id, platform, account_id, link_id, handle, hour, observed_at, followers, following, posts_count, version)`,
		users, plats, accts, links, handles, hours, observed, followers, following, postsCount, versions)
	n = len(want.posts)
	pu, pp, pa, pl, ids, texts, perm := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	created, phours, pobs := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	likes, comments, shares, views, pv := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]uint64, n)
	for i := range want.posts {
		p := &want.posts[i]
		pu[i], pp[i], pa[i], pl[i], ids[i], texts[i], perm[i] = p.UserID, string(p.Platform), p.AccountID, p.LinkID, p.PostID, p.Text, p.Permalink
		created[i], phours[i], pobs[i] = p.CreatedAt, p.ObservedAt.Truncate(time.Hour), p.ObservedAt
		likes[i], comments[i], shares[i], views[i], pv[i] = p.Likes, p.Comments, p.Shares, p.Views, uint64(p.Version)
	}
	send(`INSERT INTO posts (user_id, platform, account_id, link_id, post_id, created_at, hour, observed_at, text, permalink, likes, comments, shares, views, version)`,
		pu, pp, pa, pl, ids, created, phours, pobs, texts, perm, likes, comments, shares, views, pv)
	return time.Since(start)
}

// BenchmarkReplay is the end-to-end figure: a generated history (1,000 users
// × 3 platforms × 48 hourly fetches by default, each fetch one account body
// and a page of the 5 most recent posts) read from the raw-payload topic by
// the normalizer, through the snapshot and post topics and the sink into
// ClickHouse, rollups included, until the sink has written every row. Its
// baseline, measured in the same iteration, is a bare column-wise
// PrepareBatch insert of the same rows (no Kafka, no JSON, no rollups).
// rows/s counts hourly snapshot rows and post observation rows.
//
// Its accounts are new when the history starts: with a post every 12
// hours, no fetch in 48 hours has a full page (at most 4 of 5 posts, 2.04
// a fetch on average); BenchmarkReplayEstablished is the same replay of
// accounts a year old.
func BenchmarkReplay(b *testing.B) { benchReplay(b, replayGen(b, 0)) }

// BenchmarkReplayEstablished is BenchmarkReplay over a window of
// established accounts' lives: each existed a year before the history
// starts, so every fetch returns a full page of 5 posts (about 864,000
// rows by default), as nearly every fetch of a year of history would.
func BenchmarkReplayEstablished(b *testing.B) { benchReplay(b, replayGen(b, establishedAge)) }

func benchReplay(b *testing.B, g *loadgen.Gen) {
	// The expected rows are not held while the replay runs (it needs
	// their counts only): the pipeline shares this process's heap, and
	// hundreds of thousands of rows of strings would make every one of
	// its garbage collections scan them. The bare insert generates them again.
	n := expected(g).counts()
	var e2e, norm, bare, cpu, chQuery, chMerge time.Duration
	var inserts, refreshes int64
	for range b.N {
		b.StopTimer()
		gk := produceHistory(b, g)
		runtime.GC()
		b.StartTimer()
		r := replayOnce(b, gk, n)
		e2e += r.total
		norm += r.normalized
		cpu += r.cpu
		chQuery += r.ch.query
		chMerge += r.ch.merges
		inserts += r.sink.Flushes
		refreshes += r.sink.Refreshes
		b.StopTimer()
		checkReplayed(b, r.url, n)
		bare += bareInsert(b, expected(g))
		b.StartTimer()
	}
	rows := float64(n.rows() * b.N)
	b.ReportMetric(rows/e2e.Seconds(), "rows/s")
	b.ReportMetric(rows/norm.Seconds(), "normalized-rows/s")
	b.ReportMetric(float64(inserts)/float64(b.N), "inserts")
	b.ReportMetric(float64(refreshes)/float64(b.N), "rollup-refreshes")
	b.ReportMetric(rows/bare.Seconds(), "bare-rows/s")
	b.ReportMetric(bare.Seconds()/e2e.Seconds(), "ratio")
	b.ReportMetric(float64(g.Fetches()*b.N)/e2e.Seconds(), "payloads/s")
	// The pipeline's CPU (normalizer, sink, in-process broker, GC; not
	// ClickHouse's) per replay: the two cores' budget is 2 × the replay's
	// wall time, shared with ClickHouse.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "pipeline-cpu-s")
	// ClickHouse's share of the same cores: its queries' CPU (inserts,
	// rollup recomputations, lookups) and its merges' time, which 18.16
	// counts as time, not CPU (merges run on their own threads; on a
	// loaded machine the time exceeds their CPU).
	b.ReportMetric(chQuery.Seconds()/float64(b.N), "clickhouse-query-cpu-s")
	b.ReportMetric(chMerge.Seconds()/float64(b.N), "clickhouse-merge-s")
	b.ReportMetric((cpu+chQuery+chMerge).Seconds()/float64(b.N), "cpu-s")
	// The CPU 100,000 rows/s leaves for all of it: every core of this
	// machine for rows/100,000 seconds (ClickHouse runs on the same
	// machine, as `make bench` starts it).
	b.ReportMetric(float64(runtime.NumCPU())*float64(n.rows())/100_000, "goal-cpu-s")
	b.ReportMetric(0, "ns/op")
}

// checkReplayed fails unless ClickHouse holds each expected row once: as
// many hourly rows and post observations as the history has, after
// deduplication and before it (a replay wrote nothing twice that a merge
// had to absorb is not required, but the deduplicated count must match),
// and every hour counted once in the daily rollup.
func checkReplayed(b *testing.B, url string, want rowCounts) {
	b.Helper()
	conn := bareConn(b, url)
	defer conn.Close()
	for _, c := range []struct {
		sql  string
		want int
	}{
		{"SELECT count() FROM account_metrics_hourly FINAL", want.snaps},
		{"SELECT count() FROM (SELECT DISTINCT user_id, platform, post_id, hour FROM posts)", want.posts},
		{"SELECT sum(hours) FROM account_metrics_daily FINAL", want.snaps},
	} {
		var got uint64
		if err := conn.QueryRow(context.Background(), c.sql).Scan(&got); err != nil {
			b.Fatalf("%s: %v", c.sql, err)
		}
		if got != uint64(c.want) {
			b.Fatalf("%s = %d, want %d", c.sql, got, c.want)
		}
	}
}

func bareConn(tb testing.TB, url string) ch.Conn {
	tb.Helper()
	opts, err := ch.ParseDSN(url)
	if err != nil {
		tb.Fatal(err)
	}
	conn, err := ch.Open(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return conn
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(m.Run())
}

// BenchmarkReplayNormalizer is the normalizer's stage of BenchmarkReplay
// alone: from the processor being ready until every snapshot and post of
// the history is on its topic.
func BenchmarkReplayNormalizer(b *testing.B) {
	g := replayGen(b, 0)
	want := expected(g).counts() // not the rows: see benchReplay
	var total time.Duration
	for range b.N {
		b.StopTimer()
		gk := produceHistory(b, g)
		adm, err := kafka.NewAdmin(gk.Brokers)
		if err != nil {
			b.Fatal(err)
		}
		p, err := normalizer.New(normalizer.Config{Brokers: gk.Brokers, Parsers: allParsers(b), Group: "bench-normalizer",
			Logger: quietLog, Options: append(gk.ProcessorOptions(),
				goka.WithStorageBuilder(tableStorage(b)), goka.WithLogger(quietGoka{}))})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- normalizer.Run(ctx, p) }()
		if err := p.WaitForReady(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for endOffsets(b, adm, topics.AccountSnapshots) < int64(want.snaps) || endOffsets(b, adm, topics.Posts) < int64(want.posts) {
			time.Sleep(2 * time.Millisecond)
		}
		total += time.Since(start)
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
		adm.Close()
	}
	b.ReportMetric(float64(want.rows()*b.N)/total.Seconds(), "rows/s")
	b.ReportMetric(float64(g.Fetches()*b.N)/total.Seconds(), "payloads/s")
	b.ReportMetric(0, "ns/op")
}

func endOffsets(tb testing.TB, adm *kafka.Admin, topic string) int64 {
	tb.Helper()
	ends, err := adm.EndOffsets(context.Background(), topic)
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, e := range ends {
		n += e
	}
	return n
}
