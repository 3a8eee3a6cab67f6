package chsink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/sinks/chsink"
)

// benchRows is how many snapshots each benchmark iteration moves. Run the
// three benchmarks together so their figures come from one machine state:
//
//	go test -run '^$' -bench . -benchtime 3x ./sinks/chsink
const benchRows = 100_000

func reportRows(b *testing.B) {
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkBarePrepareBatch is the baseline: the same snapshots inserted
// with one clickhouse-go PrepareBatch, column-wise appends, into the hourly
// table; no Kafka, no decoding, no rollups.
func BenchmarkBarePrepareBatch(b *testing.B) {
	snaps, _ := data(benchRows)
	url := chtest.URL(b)
	chtest.MustOpenURL(b, url) // creates and migrates the database
	opts, err := ch.ParseDSN(url)
	if err != nil {
		b.Fatal(err)
	}
	conn, err := ch.Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		batch, err := conn.PrepareBatch(ctx, `INSERT INTO account_metrics_hourly
			(user_id, platform, account_id, link_id, handle, hour, observed_at, followers, following, posts_count, version)`)
		if err != nil {
			b.Fatal(err)
		}
		n := len(snaps)
		users, platforms, accounts, links, handles := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		hours, observed := make([]time.Time, n), make([]time.Time, n)
		followers, following, postsCount, versions := make([]int64, n), make([]int64, n), make([]int64, n), make([]uint64, n)
		for i := range snaps {
			s := &snaps[i]
			users[i], platforms[i], accounts[i], links[i], handles[i] = s.UserID, string(s.Platform), s.AccountID, s.LinkID, s.Handle
			hours[i], observed[i] = s.Hour, s.ObservedAt
			followers[i], following[i], postsCount[i], versions[i] = s.Followers, s.Following, s.PostsCount, uint64(s.Version)
		}
		for i, col := range []any{users, platforms, accounts, links, handles, hours, observed, followers, following, postsCount, versions} {
			if err := batch.Column(i).Append(col); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Send(); err != nil {
			b.Fatal(err)
		}
	}
	reportRows(b)
}

// BenchmarkStoreWrite is clickhouse.DB.Write of the same snapshots: the
// insert plus the day, month and year rollup recomputation, without Kafka.
func BenchmarkStoreWrite(b *testing.B) {
	snaps, _ := data(benchRows)
	ctx := context.Background()
	var elapsed time.Duration
	for range b.N {
		db := chtest.MustOpen(b) // fresh tables, as the sink benchmark has
		start := time.Now()
		if err := db.Write(ctx, snaps, nil); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/elapsed.Seconds(), "rows/s")
}

// BenchmarkSink moves the same snapshots through the whole sink with its
// default batching: consumed from the embedded broker as JSON records,
// decoded, written with Write (insert and rollups), offsets committed.
// Producing the records is not timed.
func BenchmarkSink(b *testing.B) {
	brokers := startBroker(b)
	snaps, _ := data(benchRows)
	produce(b, brokers, records(b, snaps, nil)...)
	var elapsed time.Duration
	for i := range b.N {
		db := chtest.MustOpen(b)
		s, err := chsink.New(chsink.Config{Brokers: brokers, Store: db, Group: fmt.Sprintf("bench-%d", i), Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		stop := runSink(b, s)
		for s.Stats().Snapshots < benchRows {
			time.Sleep(time.Millisecond)
		}
		elapsed += time.Since(start)
		stop()
		if st := s.Stats(); st.Snapshots != benchRows {
			b.Fatalf("stats %+v", st)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/elapsed.Seconds(), "rows/s")
}
