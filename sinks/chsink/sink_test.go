package chsink_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/sinks/chsink"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) {
	testkit.WrapTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startBroker starts an embedded broker with the sink's topics.
func startBroker(tb testing.TB) []string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("broker test")
	}
	b, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(b.Close)
	if _, err := kafka.EnsureTopics(context.Background(), b.Addrs(), 1,
		kafka.TopicSpec{Name: topics.AccountSnapshots}, kafka.TopicSpec{Name: topics.Posts},
		kafka.TopicSpec{Name: topics.DeadLetters}, kafka.TopicSpec{Name: topics.AnalyticsChanges}); err != nil {
		tb.Fatal(err)
	}
	return b.Addrs()
}

// data makes n snapshots with distinct identities (users × accounts ×
// hours) and n/4 post observations.
func data(n int) ([]topics.AccountSnapshot, []topics.Post) {
	start := time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC)
	snaps := make([]topics.AccountSnapshot, n)
	for i := range snaps {
		acct := i % 200
		hour := start.Add(time.Duration(i/200) * time.Hour)
		obs := hour.Add(time.Duration(i%3600) * time.Second)
		snaps[i] = topics.AccountSnapshot{
			LinkID: fmt.Sprintf("link-%d", acct), UserID: fmt.Sprintf("user-%d", acct%20),
			Platform: []topics.Platform{topics.X, topics.Instagram}[acct%2], AccountID: fmt.Sprintf("acct-%d", acct),
			Handle: fmt.Sprintf("@acct%d", acct), Hour: hour, ObservedAt: obs,
			Followers: int64(1000 + i%977), Following: int64(i % 50), PostsCount: int64(i % 300), Version: obs.UnixMilli(),
		}
	}
	posts := make([]topics.Post, n/4)
	for i := range posts {
		s := snaps[i*4]
		posts[i] = topics.Post{
			LinkID: s.LinkID, UserID: s.UserID, Platform: s.Platform, AccountID: s.AccountID,
			PostID: fmt.Sprintf("post-%d", i%1500), CreatedAt: start.Add(time.Duration(i%1500) * time.Minute),
			ObservedAt: s.ObservedAt, Text: "hello", Likes: int64(i % 1000), Comments: int64(i % 70), Version: s.Version,
		}
	}
	return snaps, posts
}

// records encodes snapshots and posts as the normalizer produces them.
func records(tb testing.TB, snaps []topics.AccountSnapshot, posts []topics.Post) []*kgo.Record {
	tb.Helper()
	var out []*kgo.Record
	for i := range snaps {
		v, err := topics.AccountSnapshotCodec.Marshal(&snaps[i])
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, &kgo.Record{Topic: topics.AccountSnapshots, Key: []byte(snaps[i].LinkID), Value: v})
	}
	for i := range posts {
		v, err := topics.PostCodec.Marshal(&posts[i])
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, &kgo.Record{Topic: topics.Posts, Key: []byte(posts[i].LinkID), Value: v})
	}
	return out
}

func produce(tb testing.TB, brokers []string, recs ...*kgo.Record) {
	tb.Helper()
	cl, err := kafka.NewClient(brokers)
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		tb.Fatal(err)
	}
}

// runSink starts s and returns a stop function that cancels it and waits
// for Run to return, failing the test on an error.
func runSink(tb testing.TB, s *chsink.Sink) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("sink: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

// waitFor waits for cond, described by what, with testkit.Eventually.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	testkit.Eventually(tb, timeout, func() error {
		if !cond() {
			return errors.New("waiting for " + what)
		}
		return nil
	})
}

// lag returns, per topic, end offset minus committed offset summed over
// partitions: the records the group has not committed.
func lag(tb testing.TB, brokers []string, group string) map[string]int64 {
	tb.Helper()
	cl, err := kafka.NewClient(brokers)
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	ends, err := adm.ListEndOffsets(ctx, topics.AccountSnapshots, topics.Posts)
	if err != nil {
		tb.Fatal(err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(o.Topic, o.Partition)
		at := int64(0)
		if ok && c.At > 0 {
			at = c.At
		}
		out[o.Topic] += o.Offset - at
	})
	return out
}

// answers returns every query answer of the users in snaps.
func answers(tb testing.TB, db *clickhouse.DB, snaps []topics.AccountSnapshot) map[string]any {
	tb.Helper()
	ctx := context.Background()
	out := map[string]any{}
	seen := map[string]bool{}
	for _, s := range snaps {
		if seen[s.UserID] {
			continue
		}
		seen[s.UserID] = true
		for _, g := range []pulse.Grain{pulse.GrainHour, pulse.GrainDay, pulse.GrainMonth, pulse.GrainYear} {
			p, err := db.Series(ctx, pulse.SeriesQuery{UserID: s.UserID, Grain: g,
				From: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)})
			if err != nil {
				tb.Fatal(err)
			}
			out[s.UserID+"/"+string(g)] = p
		}
		f, err := db.Feed(ctx, pulse.FeedQuery{UserID: s.UserID, Limit: 200})
		if err != nil {
			tb.Fatal(err)
		}
		out[s.UserID+"/feed"] = f
	}
	return out
}

// control is a database that received the rows once, directly.
func control(tb testing.TB, snaps []topics.AccountSnapshot, posts []topics.Post) map[string]any {
	tb.Helper()
	db := chtest.MustOpen(tb)
	if err := db.Write(context.Background(), snaps, posts); err != nil {
		tb.Fatal(err)
	}
	return answers(tb, db, snaps)
}

func sameAnswers(tb testing.TB, got, want map[string]any) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got answers for %d queries, want %d", len(got), len(want))
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			tb.Errorf("%s differs from the control database:\n got %+v\nwant %+v", k, got[k], w)
		}
	}
}

// rowsOnce checks that every produced snapshot and post is in the database
// exactly once after deduplication.
func rowsOnce(tb testing.TB, db *clickhouse.DB, snaps []topics.AccountSnapshot, posts []topics.Post) {
	tb.Helper()
	got, err := db.Count(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	if got.Snapshots != uint64(len(snaps)) || got.Posts != uint64(len(posts)) {
		tb.Fatalf("database holds %d snapshots and %d post observations (deduplicated), want %d and %d",
			got.Snapshots, got.Posts, len(snaps), len(posts))
	}
}

// TestSinkWritesEveryRowOnceAndCommits consumes snapshots, posts and one
// undecodable record, and expects the same answers as a direct write, a
// dead letter, and every offset committed.
func TestSinkWritesEveryRowOnceAndCommits(t *testing.T) {
	brokers := startBroker(t)
	snaps, posts := data(3000)
	recs := records(t, snaps, posts)
	recs = append(recs, &kgo.Record{Topic: topics.AccountSnapshots, Key: []byte("bad"), Value: []byte("{not json")})
	produce(t, brokers, recs...)
	db := chtest.MustOpen(t)
	s, err := chsink.New(chsink.Config{Brokers: brokers, Store: db, Group: "g1", BatchRows: 1000,
		FlushInterval: 100 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSink(t, s)
	waitFor(t, 60*time.Second, "all rows written", func() bool {
		st := s.Stats()
		return st.Snapshots == int64(len(snaps)) && st.Posts == int64(len(posts)) && st.DeadLetters == 1
	})
	waitFor(t, 10*time.Second, "every offset committed", func() bool {
		l := lag(t, brokers, "g1")
		return l[topics.AccountSnapshots] == 0 && l[topics.Posts] == 0
	})
	stop()
	if st := s.Stats(); st.Flushes < 4 || st.MaxBuffered > 2*1000 {
		t.Errorf("stats %+v: want at least 4 flushes, and at most two batches of 1000 records held", st)
	}
	rowsOnce(t, db, snaps, posts)
	sameAnswers(t, answers(t, db, snaps), control(t, snaps, posts))
	checkDeadLetter(t, brokers)
}

func checkDeadLetter(t *testing.T, brokers []string) {
	cl, err := kafka.NewClient(brokers, kgo.ConsumeTopics(topics.DeadLetters), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := cl.PollRecords(ctx, 10)
	if f.NumRecords() != 1 {
		t.Fatalf("dead letters: %d records (%v)", f.NumRecords(), f.Errors())
	}
	dl, err := topics.DeadLetterCodec.Unmarshal(f.Records()[0].Value)
	if err != nil || string(dl.Value) != "{not json" || dl.SourceTopic != topics.AccountSnapshots {
		t.Fatalf("dead letter %+v, %v", dl, err)
	}
}

// crashingStore inserts into a database until, on the crashAt-th insert,
// it inserts and then "crashes": that insert reports failure and so does
// every later call, as if the process had died between the insert and the
// offset commit. It has a database handle of its own, so the rollup
// buckets it marks stale die with it, as they would with the process.
type crashingStore struct {
	db      *clickhouse.DB
	crashAt int32
	writes  atomic.Int32
	rows    atomic.Int64 // rows that reached the database
}

var errCrashed = errors.New("crashed")

func (c *crashingStore) Insert(ctx context.Context, snaps []topics.AccountSnapshot, posts []topics.Post) error {
	n := c.writes.Add(1)
	if n > c.crashAt {
		return errCrashed
	}
	if err := c.db.Insert(ctx, snaps, posts); err != nil {
		return err
	}
	c.rows.Add(int64(len(snaps) + len(posts)))
	if n == c.crashAt {
		return errCrashed
	}
	return nil
}

func (c *crashingStore) RefreshRollups(ctx context.Context) error {
	if c.writes.Load() >= c.crashAt {
		return errCrashed
	}
	return c.db.RefreshRollups(ctx)
}

// TestCrashBetweenInsertAndCommitChangesNoAnswer lets a sink write a few
// batches, crash right after an insert and before its commit, and a second
// sink take over: the second re-reads and re-inserts what the first wrote
// but did not commit, and every answer equals a single direct write.
func TestCrashBetweenInsertAndCommitChangesNoAnswer(t *testing.T) {
	brokers := startBroker(t)
	snaps, posts := data(4000)
	produce(t, brokers, records(t, snaps, posts)...)
	url := chtest.URL(t)
	db := chtest.MustOpenURL(t, url)

	crash := &crashingStore{db: openAgain(t, url), crashAt: 3}
	first, err := chsink.New(chsink.Config{Brokers: brokers, Store: crash, Group: "g", BatchRows: 800,
		FlushInterval: 50 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, ShutdownTimeout: 200 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	stopFirst := runSink(t, first)
	waitFor(t, 60*time.Second, "the crash", func() bool { return crash.writes.Load() > crash.crashAt })
	stopFirst()
	st := first.Stats()
	if st.Flushes != 2 {
		t.Fatalf("first sink: %d successful flushes, want 2 before the crash", st.Flushes)
	}
	// Committed are at most the records of the two batches inserted
	// before the crash, and only if their rollups were recomputed first.
	uncommitted := lag(t, brokers, "g")
	if total := uncommitted[topics.AccountSnapshots] + uncommitted[topics.Posts]; total < int64(len(snaps)+len(posts))-st.Snapshots-st.Posts {
		t.Fatalf("after the crash %d records are uncommitted, want at least every record but the %d inserted", total, st.Snapshots+st.Posts)
	}

	second, err := chsink.New(chsink.Config{Brokers: brokers, Store: db, Group: "g", BatchRows: 800,
		FlushInterval: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	stopSecond := runSink(t, second)
	waitFor(t, 60*time.Second, "the second sink to catch up", func() bool {
		l := lag(t, brokers, "g")
		return l[topics.AccountSnapshots] == 0 && l[topics.Posts] == 0
	})
	stopSecond()
	// The crashed batch reached the database twice: once before the crash,
	// once from the second sink.
	if got, want := crash.rows.Load()+second.Stats().Snapshots+second.Stats().Posts, int64(len(snaps)+len(posts)); got <= want {
		t.Fatalf("%d rows written in all, want more than %d (the crashed batch twice)", got, want)
	}
	rowsOnce(t, db, snaps, posts)
	sameAnswers(t, answers(t, db, snaps), control(t, snaps, posts))
}

// TestOutageLosesNothing runs the sink against a ClickHouse server of its
// own, stops the server, produces records while it is down, and starts it
// again: nothing is committed while the server is down, the buffer stays
// within its bound, and in the end every row is present once. The records
// are produced in three parts (before, during and after the outage) so
// that records provably arrive while the server is down, whatever the
// machine's speed.
func TestOutageLosesNothing(t *testing.T) {
	brokers := startBroker(t)
	server := chtest.StartServer(t)
	db := chtest.MustOpenURL(t, server.URL("pulse_outage"))
	snaps, posts := data(6000)
	recs := records(t, snaps, posts)
	third := len(recs) / 3
	before, during, after := recs[:third], recs[third:2*third], recs[2*third:]

	s, err := chsink.New(chsink.Config{Brokers: brokers, Store: db, Group: "g", BatchRows: 500,
		FlushInterval: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, WriteTimeout: 5 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSink(t, s)
	produce(t, brokers, before...)
	waitFor(t, 30*time.Second, "some rows written", func() bool { return s.Stats().Snapshots > 500 })

	server.Stop()
	// Something to write during the outage (the sink may have written
	// every earlier record before the server stopped).
	produce(t, brokers, during[:60]...)
	waitFor(t, 30*time.Second, "writes to fail", func() bool { return s.Stats().FailedWrites >= 3 })
	lagBefore := lag(t, brokers, "g")
	for i := 60; i < len(during); i += 60 {
		produce(t, brokers, during[i:min(i+60, len(during))]...)
	}
	// Let the sink fail a few more times with the new records in front of
	// it: a sink that committed on failure would have done so by now.
	failed := s.Stats().FailedWrites
	waitFor(t, 30*time.Second, "more writes to fail", func() bool { return s.Stats().FailedWrites >= failed+3 })
	lagAfter := lag(t, brokers, "g")
	// Lag grows by exactly what was produced: nothing was committed.
	if grown := lagAfter[topics.AccountSnapshots] + lagAfter[topics.Posts] - lagBefore[topics.AccountSnapshots] - lagBefore[topics.Posts]; grown != int64(len(during)-60) {
		t.Fatalf("during the outage lag grew by %d while %d records were produced: offsets were committed", grown, len(during)-60)
	}
	if st := s.Stats(); st.MaxBuffered > 2*500 {
		t.Fatalf("buffered %d records, bound is two batches of 500", st.MaxBuffered)
	}

	server.Start()
	produce(t, brokers, after...)
	waitFor(t, 60*time.Second, "every offset committed", func() bool {
		l := lag(t, brokers, "g")
		return l[topics.AccountSnapshots] == 0 && l[topics.Posts] == 0
	})
	stop()
	t.Logf("sink stats: %+v", s.Stats())
	rowsOnce(t, db, snaps, posts)
	sameAnswers(t, answers(t, db, snaps), control(t, snaps, posts))
}

// memStore records the batches written to it and fails while failing is
// set.
type memStore struct {
	mu      sync.Mutex
	batches []int // rows per write
	rows    int
	failing atomic.Bool
}

func (m *memStore) RefreshRollups(context.Context) error {
	if m.failing.Load() {
		return errors.New("store down")
	}
	return nil
}

func (m *memStore) Insert(_ context.Context, snaps []topics.AccountSnapshot, posts []topics.Post) error {
	if m.failing.Load() {
		return errors.New("store down")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batches = append(m.batches, len(snaps)+len(posts))
	m.rows += len(snaps) + len(posts)
	return nil
}

func (m *memStore) state() (batches []int, rows int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int(nil), m.batches...), m.rows
}

// TestUrgentRecordIsFlushedAtOnce: with an hour-long flush interval,
// ordinary records wait, and one urgent record flushes them all.
func TestUrgentRecordIsFlushedAtOnce(t *testing.T) {
	brokers := startBroker(t)
	snaps, _ := data(6)
	recs := records(t, snaps, nil)
	store := &memStore{}
	s, err := chsink.New(chsink.Config{Brokers: brokers, Store: store, Group: "g", FlushInterval: time.Hour, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	runSink(t, s)
	produce(t, brokers, recs[:5]...)
	waitFor(t, 10*time.Second, "records read", func() bool { return s.Stats().Buffered == 5 })
	time.Sleep(300 * time.Millisecond)
	if _, rows := store.state(); rows != 0 {
		t.Fatalf("%d rows written before the flush interval without an urgent record", rows)
	}
	recs[5].Headers = []kgo.RecordHeader{{Key: topics.HeaderUrgent, Value: []byte("1")}}
	start := time.Now()
	produce(t, brokers, recs[5])
	waitFor(t, 5*time.Second, "the urgent flush", func() bool { _, rows := store.state(); return rows == 6 })
	t.Logf("urgent record written %v after it was produced", time.Since(start))
}

// TestBatchesByRowsAndByTime checks both flush triggers.
func TestBatchesByRowsAndByTime(t *testing.T) {
	brokers := startBroker(t)
	snaps, _ := data(1000)
	store := &memStore{}
	s, err := chsink.New(chsink.Config{Brokers: brokers, Store: store, Group: "rows", BatchRows: 100, FlushInterval: time.Hour, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSink(t, s)
	produce(t, brokers, records(t, snaps, nil)...)
	waitFor(t, 20*time.Second, "1000 rows", func() bool { _, rows := store.state(); return rows == 1000 })
	stop()
	batches, _ := store.state()
	for _, n := range batches {
		if n != 100 {
			t.Fatalf("batches %v: want batches of exactly BatchRows=100 (the interval never elapses)", batches)
		}
	}

	store = &memStore{}
	s, err = chsink.New(chsink.Config{Brokers: brokers, Store: store, Group: "time", FlushInterval: 300 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	runSink(t, s)
	waitFor(t, 10*time.Second, "the timed flush", func() bool { _, rows := store.state(); return rows == 1000 })
	if batches, _ := store.state(); len(batches) > 3 {
		t.Fatalf("batches %v: want the 1000 records in few timed flushes", batches)
	}
}

// TestBacklogEndIsFlushedOnceIdle: with an hour-long flush interval, the
// partial batch that ends a backlog (after full ones) is flushed once
// nothing more arrives for IdleFlush; records that follow no full batch
// (a sink keeping up) wait for the interval, and so does the end of a
// backlog when IdleFlush is off.
func TestBacklogEndIsFlushedOnceIdle(t *testing.T) {
	snaps, _ := data(255)
	recs := records(t, snaps, nil)
	for _, tc := range []struct {
		name      string
		idleFlush time.Duration
		want      int // rows written before the interval: full batches, and the partial one if flushed when idle
	}{
		{"on", 100 * time.Millisecond, 250},
		{"off", -1, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brokers := startBroker(t)
			store := &memStore{}
			s, err := chsink.New(chsink.Config{Brokers: brokers, Store: store, Group: "g", BatchRows: 100,
				FlushInterval: time.Hour, IdleFlush: tc.idleFlush, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			// The backlog is in the topic before the sink starts, so its
			// records are fetched together, not as a stalled producer
			// writes them.
			produce(t, brokers, recs[:250]...)
			runSink(t, s)
			waitFor(t, 20*time.Second, "the backlog read", func() bool {
				_, rows := store.state()
				return rows == tc.want && rows+int(s.Stats().Buffered) == 250
			})
			if tc.idleFlush > 0 {
				// Records after a partial batch are a trickle: they wait.
				produce(t, brokers, recs[250:]...)
				waitFor(t, 10*time.Second, "the trickle read", func() bool { return s.Stats().Buffered == 5 })
			}
			time.Sleep(500 * time.Millisecond)
			if batches, rows := store.state(); rows != tc.want {
				t.Fatalf("IdleFlush %v: batches %v, want %d rows written before the flush interval", tc.idleFlush, batches, tc.want)
			}
		})
	}
}

// TestFullBatchWaitsForTheBacklogsEnd: a full batch is a backlog even when
// nothing more has been fetched yet, so its rollups are not recomputed
// after its insert (RefreshInterval is an hour, IdleFlush off); the
// partial batch that follows is the backlog's end, recomputed at once
// with the full one, and every offset is committed.
func TestFullBatchWaitsForTheBacklogsEnd(t *testing.T) {
	brokers := startBroker(t)
	snaps, _ := data(101)
	recs := records(t, snaps, nil)
	store := &memStore{}
	s, err := chsink.New(chsink.Config{Brokers: brokers, Store: store, Group: "g", BatchRows: 100,
		FlushInterval: 100 * time.Millisecond, IdleFlush: -1, RefreshInterval: time.Hour, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	runSink(t, s)
	produce(t, brokers, recs[:100]...)
	waitFor(t, 20*time.Second, "the full batch written", func() bool { return s.Stats().Flushes == 1 })
	time.Sleep(300 * time.Millisecond)
	if st := s.Stats(); st.Refreshes != 0 || st.PendingBatches != 1 {
		t.Fatalf("after a full batch: %+v, want no recomputation and the batch pending", st)
	}
	produce(t, brokers, recs[100:]...)
	waitFor(t, 20*time.Second, "both batches recomputed", func() bool {
		st := s.Stats()
		return st.Flushes == 2 && st.PendingBatches == 0
	})
	if st := s.Stats(); st.Refreshes != 1 {
		t.Errorf("%+v: want one recomputation for both batches", st)
	}
	waitFor(t, 20*time.Second, "every offset committed", func() bool {
		return lag(t, brokers, "g")[topics.AccountSnapshots] == 0
	})
}

// TestFailingStoreIsRetriedWithoutCommitOrUnboundedBuffer: while the store
// fails, the sink retries, commits nothing and reads no more than two
// batches (the one being retried and the next); once it recovers, every
// record is written.
func TestFailingStoreIsRetriedWithoutCommitOrUnboundedBuffer(t *testing.T) {
	brokers := startBroker(t)
	snaps, posts := data(4000)
	store := &memStore{}
	store.failing.Store(true)
	s, err := chsink.New(chsink.Config{Brokers: brokers, Store: store, Group: "g", BatchRows: 300,
		FlushInterval: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	runSink(t, s)
	produce(t, brokers, records(t, snaps, posts)...)
	waitFor(t, 10*time.Second, "retries", func() bool { return s.Stats().FailedWrites >= 5 })
	if l := lag(t, brokers, "g"); l[topics.AccountSnapshots]+l[topics.Posts] != int64(len(snaps)+len(posts)) {
		t.Fatalf("lag %v while the store fails: offsets were committed for unwritten rows", l)
	}
	if st := s.Stats(); st.MaxBuffered > 2*300 || st.Buffered < 300 {
		t.Fatalf("stats %+v: want a batch in flight and at most two batches of 300 records held", st)
	}
	store.failing.Store(false)
	waitFor(t, 30*time.Second, "every offset committed", func() bool {
		l := lag(t, brokers, "g")
		return l[topics.AccountSnapshots] == 0 && l[topics.Posts] == 0
	})
	if _, rows := store.state(); rows != len(snaps)+len(posts) {
		t.Fatalf("%d rows written, want %d", rows, len(snaps)+len(posts))
	}
}

func TestNewValidatesConfig(t *testing.T) {
	for _, c := range []chsink.Config{
		{Store: &memStore{}},
		{Brokers: []string{"127.0.0.1:1"}},
		{Brokers: []string{"127.0.0.1:1"}, Store: &memStore{}, BatchRows: -1},
		{Brokers: []string{"127.0.0.1:1"}, Store: &memStore{}, RefreshInterval: -time.Second},
	} {
		if _, err := chsink.New(c); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}

// TestBatchesByBytes: with rows and time out of reach, the byte bound
// alone splits the records into several writes.
func TestBatchesByBytes(t *testing.T) {
	brokers := startBroker(t)
	snaps, _ := data(1000)
	recs := records(t, snaps, nil)
	total := 0
	for _, r := range recs {
		total += len(r.Value)
	}
	store := &memStore{}
	s, err := chsink.New(chsink.Config{Brokers: brokers, Store: store, Group: "bytes", BatchBytes: total / 10,
		FlushInterval: time.Hour, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// Small producer batches, so that one fetch (capped at BatchBytes)
	// holds a fraction of the records.
	for i := 0; i < len(recs); i += 20 {
		produce(t, brokers, recs[i:i+20]...)
	}
	runSink(t, s)
	waitFor(t, 20*time.Second, "1000 rows", func() bool { _, rows := store.state(); return rows == 1000 })
	if batches, _ := store.state(); len(batches) < 5 {
		t.Fatalf("batches %v: want the %d bytes split by BatchBytes=%d", batches, total, total/10)
	}
}

// openAgain opens a second handle on the database at url (migrated
// already): another process's view of the same tables.
func openAgain(tb testing.TB, url string) *clickhouse.DB {
	tb.Helper()
	db, err := clickhouse.Open(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// refusingStore inserts into its own database handle and never manages to
// recompute the rollups: a sink that dies with inserted, unrecomputed
// batches.
type refusingStore struct {
	db      *clickhouse.DB
	refused atomic.Int64
}

func (r *refusingStore) Insert(ctx context.Context, snaps []topics.AccountSnapshot, posts []topics.Post) error {
	return r.db.Insert(ctx, snaps, posts)
}

func (r *refusingStore) RefreshRollups(context.Context) error {
	r.refused.Add(1)
	return errCrashed
}

// TestNothingCommittedBeforeTheRollups: a sink whose inserts succeed and
// whose rollup recomputations fail commits nothing, however much it
// inserted, and tells of every user's inserted rows but of no
// recomputation; a second sink (another process: the first one's stale
// marks are gone) re-reads everything, tells of every user's recomputed
// rollups before its commit, and every answer, rollups included, equals
// a single direct write.
func TestNothingCommittedBeforeTheRollups(t *testing.T) {
	brokers := startBroker(t)
	snaps, posts := data(3000)
	produce(t, brokers, records(t, snaps, posts)...)
	url := chtest.URL(t)
	db := chtest.MustOpenURL(t, url)

	refusing := &refusingStore{db: openAgain(t, url)}
	first, err := chsink.New(chsink.Config{Brokers: brokers, Store: refusing, Group: "g", BatchRows: 500,
		FlushInterval: 50 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxPendingBatches: 100,
		ShutdownTimeout: 200 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	stopFirst := runSink(t, first)
	waitFor(t, 60*time.Second, "every row inserted and recomputations refused", func() bool {
		st := first.Stats()
		return st.Snapshots == int64(len(snaps)) && st.Posts == int64(len(posts)) && refusing.refused.Load() >= 3
	})
	stopFirst()
	if l := lag(t, brokers, "g"); l[topics.AccountSnapshots]+l[topics.Posts] != int64(len(snaps)+len(posts)) {
		t.Fatalf("lag %v: offsets committed before the rollups were recomputed", l)
	}
	users := map[string]bool{}
	for _, s := range snaps {
		users[s.UserID] = true
	}
	inserted, recomputed := changes(t, brokers)
	if len(recomputed) != 0 {
		t.Fatalf("recomputations told of, none succeeded: %v", recomputed)
	}
	if len(inserted) != len(users) {
		t.Fatalf("inserts told of for %d users, want the %d users of the rows: %v", len(inserted), len(users), inserted)
	}
	for u := range users {
		if inserted[u] == 0 {
			t.Fatalf("no insert told of for %s", u)
		}
	}

	second, err := chsink.New(chsink.Config{Brokers: brokers, Store: db, Group: "g", BatchRows: 500,
		FlushInterval: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	stopSecond := runSink(t, second)
	waitFor(t, 60*time.Second, "the second sink to catch up", func() bool {
		l := lag(t, brokers, "g")
		return l[topics.AccountSnapshots] == 0 && l[topics.Posts] == 0
	})
	// Committed: so every recomputation before the commit was told of.
	_, recomputed = changes(t, brokers)
	stopSecond()
	if len(recomputed) != len(users) {
		t.Fatalf("recomputations told of for %v, want the %d users of the rows", recomputed, len(users))
	}
	for u := range users {
		if recomputed[u] == 0 {
			t.Fatalf("user %s's recomputed rollups were committed without a change told of (%v)", u, recomputed)
		}
	}
	rowsOnce(t, db, snaps, posts)
	sameAnswers(t, answers(t, db, snaps), control(t, snaps, posts))
}

// gatedStore holds its first rollup recomputation until gate inserts were
// made, as a slow server would, and counts the inserts between two
// recomputations.
type gatedStore struct {
	db   *clickhouse.DB
	gate int64

	inserts, refreshes atomic.Int64
	firstAt            atomic.Int64 // inserts made when the first recomputation began
	mu                 sync.Mutex
	since, maxSince    int64 // inserts since the last recomputation began, and the most
}

func (g *gatedStore) Insert(ctx context.Context, snaps []topics.AccountSnapshot, posts []topics.Post) error {
	if err := g.db.Insert(ctx, snaps, posts); err != nil {
		return err
	}
	g.inserts.Add(1)
	g.mu.Lock()
	g.since++
	g.maxSince = max(g.maxSince, g.since)
	g.mu.Unlock()
	return nil
}

func (g *gatedStore) RefreshRollups(ctx context.Context) error {
	g.mu.Lock()
	g.since = 0
	g.mu.Unlock()
	if g.refreshes.Add(1) == 1 {
		g.firstAt.Store(g.inserts.Load())
		for g.inserts.Load() < g.gate {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	return g.db.RefreshRollups(ctx)
}

// TestOneRecomputationCoversManyInserts: while a recomputation runs, the
// sink goes on inserting, the next recomputation covers every batch
// inserted meanwhile (fewer recomputations than inserts), no more than
// MaxPendingBatches batches wait for one, and every answer equals a single
// direct write.
func TestOneRecomputationCoversManyInserts(t *testing.T) {
	brokers := startBroker(t)
	snaps, posts := data(4000)
	produce(t, brokers, records(t, snaps, posts)...)
	db := chtest.MustOpen(t)
	store := &gatedStore{db: db, gate: 4}
	const maxPending = 4
	s, err := chsink.New(chsink.Config{Brokers: brokers, Store: store, Group: "g", BatchRows: 200,
		FlushInterval: 20 * time.Millisecond, MaxPendingBatches: maxPending, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSink(t, s)
	waitFor(t, 90*time.Second, "every row inserted", func() bool {
		st := s.Stats()
		return st.Snapshots == int64(len(snaps)) && st.Posts == int64(len(posts)) && st.Refreshes > 0
	})
	waitFor(t, 90*time.Second, "every offset committed", func() bool {
		l := lag(t, brokers, "g")
		return l[topics.AccountSnapshots] == 0 && l[topics.Posts] == 0
	})
	stop()
	st := s.Stats()
	t.Logf("sink stats %+v; most inserts between two recomputations %d", st, store.maxSince)
	if st.Refreshes >= st.Flushes || st.Flushes < 10 {
		t.Errorf("%d recomputations for %d inserts: want fewer recomputations than inserts", st.Refreshes, st.Flushes)
	}
	// The sink takes the pending batches just before calling the store,
	// so an insert may land between the two: one more than the bound.
	if store.maxSince > maxPending+1 {
		t.Errorf("%d inserts between two recomputations, bound is MaxPendingBatches=%d", store.maxSince, maxPending)
	}
	rowsOnce(t, db, snaps, posts)
	sameAnswers(t, answers(t, db, snaps), control(t, snaps, posts))
}

// TestBacklogRecomputesOnceCaughtUp: with a backlog in the topics, an
// hour-long RefreshInterval and MaxPendingBatches out of reach, the sink
// inserts batch after batch without recomputing their rollups (each day
// bucket would otherwise be recomputed by every batch touching it), then,
// once caught up, recomputes them all at once and commits: every offset is
// committed, by few recomputations, and every answer equals a single
// direct write. The backlog ends on a full batch (25 of 200), so only the
// poll loop finding nothing more (IdleFlush) tells the sink it caught up.
func TestBacklogRecomputesOnceCaughtUp(t *testing.T) {
	brokers := startBroker(t)
	snaps, posts := data(4000)
	produce(t, brokers, records(t, snaps, posts)...)
	db := chtest.MustOpen(t)
	store := &gatedStore{db: db}
	s, err := chsink.New(chsink.Config{Brokers: brokers, Store: store, Group: "g", BatchRows: 200,
		FlushInterval: 20 * time.Millisecond, MaxPendingBatches: 1000, RefreshInterval: time.Hour, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSink(t, s)
	waitFor(t, 90*time.Second, "every row inserted and recomputed", func() bool {
		st := s.Stats()
		return st.Snapshots == int64(len(snaps)) && st.Posts == int64(len(posts)) && st.PendingBatches == 0
	})
	waitFor(t, 90*time.Second, "every offset committed", func() bool {
		l := lag(t, brokers, "g")
		return l[topics.AccountSnapshots] == 0 && l[topics.Posts] == 0
	})
	stop()
	st := s.Stats()
	t.Logf("sink stats %+v; most inserts between two recomputations %d", st, store.maxSince)
	// 5,000 records in batches of 200; the backlog is fetched ahead, so
	// an insert leaves the sink caught up only at the end (a momentary
	// gap between two fetches on a loaded machine may add one or two).
	if st.Flushes < 25 || st.Refreshes > 4 {
		t.Errorf("%d recomputations for %d inserts: want a few recomputations for the whole backlog", st.Refreshes, st.Flushes)
	}
	// A full batch is a backlog: the first insert does not trigger one.
	if store.firstAt.Load() < 2 {
		t.Errorf("the first recomputation began after %d inserts: want it to wait for more of the backlog", store.firstAt.Load())
	}
	rowsOnce(t, db, snaps, posts)
	sameAnswers(t, answers(t, db, snaps), control(t, snaps, posts))
}

// changes reads every topics.AnalyticsChange published so far and
// counts them by user: inserts (Rollups false) and recomputations.
func changes(tb testing.TB, brokers []string) (inserted, recomputed map[string]int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kafka.NewClient(brokers)
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics.AnalyticsChanges)
	if err != nil {
		tb.Fatal(err)
	}
	want := map[int32]int64{}
	parts := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			parts[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	inserted, recomputed = map[string]int{}, map[string]int{}
	if len(want) == 0 {
		return inserted, recomputed
	}
	rd, err := kafka.NewClient(brokers, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topics.AnalyticsChanges: parts}))
	if err != nil {
		tb.Fatal(err)
	}
	defer rd.Close()
	for len(want) > 0 {
		fs := rd.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			tb.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			c, err := topics.AnalyticsChangeCodec.Unmarshal(r.Value)
			if err != nil {
				tb.Fatal(err)
			}
			if c.UserID != string(r.Key) {
				tb.Fatalf("change of %q keyed %q", c.UserID, r.Key)
			}
			if c.Rollups {
				recomputed[c.UserID]++
			} else {
				inserted[c.UserID]++
			}
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
		})
	}
	return inserted, recomputed
}
