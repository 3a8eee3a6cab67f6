package scheduler

import (
	"math"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// TestFetchCostMatchesPostsWindow holds the capacity plan's average cost
// of a fetch to the re-reads PostsWindow actually schedules: an account
// fetched every `every` for many weeks, its re-read times updated as the
// stores update them, each re-read charged its pages beyond the first.
func TestFetchCostMatchesPostsWindow(t *testing.T) {
	s := Scope{Name: "app", Per: PerApp, Cost: 3, PageCost: 1}
	for _, tc := range []struct {
		pageSize int
		every    time.Duration
	}{
		{25, time.Hour}, {25, 20 * time.Hour}, {25, 24 * time.Hour}, {25, 17 * time.Hour},
		{50, time.Hour}, {50, 17*time.Hour + 16*time.Minute}, {25, 200 * time.Hour}, {100, 3 * time.Hour},
	} {
		l := Limits{PostsPageSize: tc.pageSize}
		st := pulse.PostsState{Cursor: "c"}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		pages := func(days int) float64 {
			return float64(max(1, (PostsPerDay*days+tc.pageSize-1)/tc.pageSize) - 1)
		}
		var extra float64
		const fetches = 20_000
		for range fetches {
			_, days := PostsWindow(st, now)
			extra += pages(days) * float64(min(days, 1)) // 0 days: one page, none extra
			if days >= 7 {
				st.WeekAt = now
			}
			if days >= topics.RecentDays {
				st.MonthAt = now
			}
			now = now.Add(tc.every)
		}
		want := s.Cost + s.PageCost*extra/fetches
		if got := l.fetchCost(s, tc.every); math.Abs(got-want) > 0.002 {
			t.Errorf("pages of %d, every %v: fetchCost %.4f, PostsWindow's re-reads cost %.4f", tc.pageSize, tc.every, got, want)
		}
	}
	if got := (Limits{}).fetchCost(s, time.Hour); got != s.Cost {
		t.Errorf("no page size: fetchCost %v, want the bare cost %v", got, s.Cost)
	}
}
