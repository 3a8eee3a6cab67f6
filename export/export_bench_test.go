package export_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/clickhouse"
	"github.com/pulsehq/pulse/clickhouse/chtest"
	"github.com/pulsehq/pulse/export"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

// yearOfHourly writes a year (2025) of hourly snapshots for 50 accounts
// across the four platforms for one user.
func yearOfHourly(b *testing.B, db *clickhouse.DB) string {
	b.Helper()
	const user = "bench-user"
	platforms := []topics.Platform{topics.Facebook, topics.Instagram, topics.X, topics.LinkedIn}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []topics.AccountSnapshot
	flush := func() {
		if err := db.Write(context.Background(), batch, nil); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for a := range 50 {
		id := fmt.Sprintf("acct-%02d", a)
		for h := range 365 * 24 {
			hour := start.Add(time.Duration(h) * time.Hour)
			obs := hour.Add(time.Minute)
			batch = append(batch, topics.AccountSnapshot{V: topics.AccountSnapshotVersion, LinkID: "l" + id, UserID: user,
				Platform: platforms[a%4], AccountID: id, Handle: "@" + id, Hour: hour, ObservedAt: obs,
				Followers: int64(1000 + a*10 + h/7), Following: 10, PostsCount: int64(h / 24), Version: obs.UnixMilli()})
			if len(batch) == 100_000 {
				flush()
			}
		}
	}
	flush()
	return user
}

// peakHeap runs fn and returns the largest heap-object bytes sampled
// while it ran (after a GC before it), minus the bytes before it.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak uint64
	var mu sync.Mutex
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			mu.Lock()
			peak = max(peak, s[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	if peak < base {
		return 0
	}
	return peak - base
}

// BenchmarkExportMemory exports hourly metrics of 50 accounts for one
// month and for a whole year, in every format, and reports the peak heap
// growth during the export ("peak-heap-MiB"): it stays flat as the rows
// grow twelvefold. The baseline "series-in-memory" reads the same year
// through DB.Series, which holds every point, for comparison.
func BenchmarkExportMemory(b *testing.B) {
	db := chtest.MustOpen(b)
	user := yearOfHourly(b, db)
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, months := range []int{1, 3, 12} {
		q := pulse.SeriesQuery{UserID: user, Grain: pulse.GrainHour, From: from, To: from.AddDate(0, months, 0)}
		for _, f := range []export.Format{export.Parquet, export.Arrow, export.CSV} {
			b.Run(fmt.Sprintf("%s/months=%d", f, months), func(b *testing.B) {
				var peak uint64
				for b.Loop() {
					peak = max(peak, peakHeap(func() {
						if err := export.Metrics(context.Background(), io.Discard, f, db, q); err != nil {
							b.Fatal(err)
						}
					}))
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
				b.ReportMetric(float64(50*24*int(q.To.Sub(q.From).Hours()/24)), "rows")
			})
		}
		if months == 3 {
			continue // the baseline at 1 and 12 months is enough
		}
		b.Run(fmt.Sprintf("series-in-memory/months=%d", months), func(b *testing.B) {
			var peak uint64
			for b.Loop() {
				peak = max(peak, peakHeap(func() {
					pts, err := db.Series(context.Background(), q)
					if err != nil || len(pts) == 0 {
						b.Fatal(err, len(pts))
					}
					runtime.KeepAlive(pts)
				}))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}
