package clickhouse

import (
	"testing"
	"time"
)

// TestGainsScanStart checks the bound the hourly gains' scan starts at,
// the expression the statement computed in SQL before: the earliest
// creation's hour less a day, the epoch for creations in its first two
// days, and no scan when no post was observed.
func TestGainsScanStart(t *testing.T) {
	created := time.Date(2026, 3, 10, 8, 20, 5, 0, time.UTC)
	if got, ok := gainsScanStart(3, created); !ok || !got.Equal(time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("created %v: start %v %v, want 2026-03-09 08:00", created, got, ok)
	}
	if got, ok := gainsScanStart(1, time.Unix(172800, 0)); !ok || got.Unix() != 0 {
		t.Errorf("created at 172800: start %v %v, want the epoch", got, ok)
	}
	if got, ok := gainsScanStart(1, time.Unix(172801, 0)); !ok || got.Unix() != 172800-86400 {
		t.Errorf("created at 172801: start %v %v, want 86400", got.Unix(), ok)
	}
	if _, ok := gainsScanStart(0, time.Unix(0, 0)); ok {
		t.Error("no observation: a scan")
	}
}
