package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/internal/testkit"
)

// countingStore answers every query with its version (the Followers of
// the one point, the Likes of the one post...), counts the calls, and can
// hold them or fail them.
type countingStore struct {
	version atomic.Int64
	calls   atomic.Int64
	fail    atomic.Bool
	// entered, when set, receives each call as it starts; release then
	// holds it until a receive.
	entered, release chan struct{}
	text             string // the feed's posts' text: their size
}

func (s *countingStore) call(ctx context.Context) (int64, error) {
	s.calls.Add(1)
	if s.entered != nil {
		s.entered <- struct{}{}
		select {
		case <-s.release:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if s.fail.Load() {
		return 0, errors.New("store down")
	}
	return s.version.Load(), nil
}

func (s *countingStore) Series(ctx context.Context, q pulse.SeriesQuery) ([]pulse.Point, error) {
	v, err := s.call(ctx)
	return []pulse.Point{{Platform: "x", AccountID: q.UserID, Followers: v}}, err
}

func (s *countingStore) Feed(ctx context.Context, q pulse.FeedQuery) ([]pulse.PostRow, error) {
	v, err := s.call(ctx)
	return []pulse.PostRow{{Platform: "x", PostID: q.UserID, Likes: v, Text: s.text}}, err
}

func (s *countingStore) PostHistory(ctx context.Context, q pulse.PostHistoryQuery) ([]pulse.PostPoint, error) {
	v, err := s.call(ctx)
	return []pulse.PostPoint{{Likes: v}}, err
}

func (s *countingStore) Trends(ctx context.Context, q pulse.TrendQuery) ([]pulse.Trend, error) {
	v, err := s.call(ctx)
	return []pulse.Trend{{Value: v}}, err
}

func (s *countingStore) LastObserved(ctx context.Context, userID string, since time.Time) (map[string]time.Time, error) {
	_, err := s.call(ctx)
	return map[string]time.Time{}, err
}

var day0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func series(t *testing.T, a *AnswerCache, user string, grain pulse.Grain) int64 {
	t.Helper()
	ps, err := a.Series(t.Context(), pulse.SeriesQuery{UserID: user, Grain: grain, From: day0, To: day0.AddDate(0, 0, 30)})
	if err != nil {
		t.Fatal(err)
	}
	return ps[0].Followers
}

// otherSlot returns a user whose generation is not user's.
func otherSlot(a *AnswerCache, user string) string {
	for i := 0; ; i++ {
		if o := fmt.Sprintf("other-%d", i); a.gen(o) != a.gen(user) {
			return o
		}
	}
}

func TestAnswerCacheBypassesUnlessFollowing(t *testing.T) {
	s := &countingStore{}
	a := NewAnswerCache(s, AnswerCacheConfig{})
	series(t, a, "u", pulse.GrainDay)
	series(t, a, "u", pulse.GrainDay)
	if n := s.calls.Load(); n != 2 {
		t.Fatalf("before Following: %d store calls for 2 queries, want 2", n)
	}
	a.Following()
	series(t, a, "u", pulse.GrainDay)
	series(t, a, "u", pulse.GrainDay)
	if n := s.calls.Load(); n != 3 {
		t.Fatalf("following: %d store calls for 4 queries, want 3", n)
	}
	// Lost: changes may be missed, so nothing cached is trusted again.
	a.Lost()
	s.version.Store(1)
	if v := series(t, a, "u", pulse.GrainDay); v != 1 {
		t.Fatalf("after Lost: answer of version %d, want the store's 1", v)
	}
	a.Following()
	if v := series(t, a, "u", pulse.GrainDay); v != 1 || s.calls.Load() != 5 {
		t.Fatalf("following again: version %d after %d calls, want 1 after 5 (nothing kept from before Lost)", v, s.calls.Load())
	}
	st := a.Stats()
	if st.Hits != 1 || st.Misses != 2 || st.Bypassed != 3 {
		t.Fatalf("stats %+v, want 1 hit, 2 misses, 3 bypassed", st)
	}
	a.Lost()
}

func TestAnswerCacheDropsAChangedUsersAnswersOnly(t *testing.T) {
	s := &countingStore{}
	a := NewAnswerCache(s, AnswerCacheConfig{})
	a.Following()
	defer a.Lost()
	other := otherSlot(a, "u")
	series(t, a, "u", pulse.GrainDay)
	series(t, a, "u", pulse.GrainMonth) // another query: its own answer
	series(t, a, other, pulse.GrainDay) // another user: their own answer
	if n := s.calls.Load(); n != 3 {
		t.Fatalf("%d store calls for 3 distinct queries, want 3", n)
	}
	s.version.Store(1)
	a.Changed("u")
	if v := series(t, a, "u", pulse.GrainDay); v != 1 {
		t.Fatalf("after u changed: version %d, want 1", v)
	}
	if v := series(t, a, "u", pulse.GrainMonth); v != 1 {
		t.Fatalf("after u changed, u's other query: version %d, want 1", v)
	}
	if v := series(t, a, other, pulse.GrainDay); v != 0 || s.calls.Load() != 5 {
		t.Fatalf("the other user: version %d after %d calls, want their cached 0 after 5", v, s.calls.Load())
	}
}

// A change told while the answer is computed makes that answer stale: it
// may or may not hold the change, so it is never served after it.
func TestAnswerCacheChangeDuringALoad(t *testing.T) {
	s := &countingStore{entered: make(chan struct{}), release: make(chan struct{})}
	a := NewAnswerCache(s, AnswerCacheConfig{})
	a.Following()
	defer a.Lost()
	got := make(chan int64, 1)
	go func() {
		ps, err := a.Series(context.Background(), pulse.SeriesQuery{UserID: "u", Grain: pulse.GrainDay, From: day0, To: day0.AddDate(0, 0, 30)})
		if err != nil {
			got <- -1
			return
		}
		got <- ps[0].Followers
	}()
	<-s.entered
	a.Changed("u")
	s.version.Store(1)
	s.release <- struct{}{}
	if v := <-got; v != 1 {
		t.Fatalf("the held query answered %d, want the store's 1", v)
	}
	s.version.Store(2)
	go func() { <-s.entered; s.release <- struct{}{} }()
	if v := series(t, a, "u", pulse.GrainDay); v != 2 {
		t.Fatalf("after a change during the load: %d, want the store asked again (2)", v)
	}
}

func TestAnswerCacheKeepsNoErrors(t *testing.T) {
	s := &countingStore{}
	a := NewAnswerCache(s, AnswerCacheConfig{})
	a.Following()
	defer a.Lost()
	s.fail.Store(true)
	if _, err := a.Series(t.Context(), pulse.SeriesQuery{UserID: "u", Grain: pulse.GrainDay}); err == nil {
		t.Fatal("no error from a failing store")
	}
	s.fail.Store(false)
	if _, err := a.Series(t.Context(), pulse.SeriesQuery{UserID: "u", Grain: pulse.GrainDay}); err != nil {
		t.Fatalf("the store's error was kept: %v", err)
	}
}

// Every cached query kind is keyed on all its fields; LastObserved, which
// refresh jobs poll, always goes to the store.
func TestAnswerCacheKeysEveryField(t *testing.T) {
	after := &pulse.PostKey{CreatedAt: day0, Platform: "x", PostID: "p1"}
	cases := []struct {
		name string
		ask  func(context.Context, *AnswerCache, int) error // i picks a variant of the query
		n    int                                            // distinct variants
	}{
		{"series", func(ctx context.Context, a *AnswerCache, i int) error {
			q := []pulse.SeriesQuery{
				{UserID: "u", Grain: pulse.GrainDay, From: day0, To: day0.AddDate(0, 1, 0)},
				{UserID: "u", Grain: pulse.GrainHour, From: day0, To: day0.AddDate(0, 1, 0)},
				{UserID: "u", Grain: pulse.GrainDay, From: day0.Add(time.Hour), To: day0.AddDate(0, 1, 0)},
				{UserID: "u", Grain: pulse.GrainDay, From: day0, To: day0.AddDate(0, 2, 0)},
				{UserID: "u", Grain: pulse.GrainDay, From: day0, To: day0.AddDate(0, 1, 0), Platforms: []string{"x"}},
				{UserID: "u", Grain: pulse.GrainDay, From: day0, To: day0.AddDate(0, 1, 0), AccountID: "a"},
				{UserID: "v", Grain: pulse.GrainDay, From: day0, To: day0.AddDate(0, 1, 0)},
			}[i]
			_, err := a.Series(ctx, q)
			return err
		}, 7},
		{"feed", func(ctx context.Context, a *AnswerCache, i int) error {
			q := []pulse.FeedQuery{
				{UserID: "u", Limit: 20},
				{UserID: "u", Limit: 21},
				{UserID: "u", Limit: 20, Before: day0},
				{UserID: "u", Limit: 20, After: after},
				{UserID: "u", Limit: 20, Rank: pulse.RankLikes},
				{UserID: "u", Limit: 20, From: day0},
				{UserID: "u", Limit: 20, To: day0},
				{UserID: "u", Limit: 20, Platforms: []string{"x", "facebook"}},
			}[i]
			_, err := a.Feed(ctx, q)
			return err
		}, 8},
		{"trends", func(ctx context.Context, a *AnswerCache, i int) error {
			q := []pulse.TrendQuery{
				{UserID: "u", Grain: pulse.GrainDay, From: day0, To: day0.AddDate(0, 1, 0)},
				{UserID: "u", Grain: pulse.GrainDay, From: day0, To: day0.AddDate(0, 1, 0), Metric: pulse.MetricLikesGained},
				{UserID: "u", Grain: pulse.GrainDay, From: day0, To: day0.AddDate(0, 1, 0), Window: 3},
			}[i]
			_, err := a.Trends(ctx, q)
			return err
		}, 3},
		{"post history", func(ctx context.Context, a *AnswerCache, i int) error {
			q := []pulse.PostHistoryQuery{
				{UserID: "u", Platform: "x", PostID: "p1", From: day0, To: day0.AddDate(0, 0, 7)},
				{UserID: "u", Platform: "x", PostID: "p2", From: day0, To: day0.AddDate(0, 0, 7)},
				{UserID: "u", Platform: "facebook", PostID: "p1", From: day0, To: day0.AddDate(0, 0, 7)},
			}[i]
			_, err := a.PostHistory(ctx, q)
			return err
		}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &countingStore{}
			a := NewAnswerCache(s, AnswerCacheConfig{})
			a.Following()
			defer a.Lost()
			for range 2 {
				for i := range c.n {
					if err := c.ask(t.Context(), a, i); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := s.calls.Load(); got != int64(c.n) {
				t.Fatalf("%d store calls for %d distinct queries asked twice, want %d", got, c.n, c.n)
			}
		})
	}
	t.Run("platforms in any order", func(t *testing.T) {
		s := &countingStore{}
		a := NewAnswerCache(s, AnswerCacheConfig{})
		a.Following()
		defer a.Lost()
		for _, ps := range [][]string{{"x", "facebook"}, {"facebook", "x"}} {
			if _, err := a.Feed(t.Context(), pulse.FeedQuery{UserID: "u", Platforms: ps}); err != nil {
				t.Fatal(err)
			}
		}
		if got := s.calls.Load(); got != 1 {
			t.Fatalf("%d store calls, want 1", got)
		}
	})
	t.Run("last observed", func(t *testing.T) {
		s := &countingStore{}
		a := NewAnswerCache(s, AnswerCacheConfig{})
		a.Following()
		defer a.Lost()
		for range 2 {
			if _, err := a.LastObserved(t.Context(), "u", day0); err != nil {
				t.Fatal(err)
			}
		}
		if got := s.calls.Load(); got != 2 {
			t.Fatalf("%d store calls for 2 LastObserved, want 2 (never cached)", got)
		}
	})
}

func TestAnswerCacheStaysWithinItsBytes(t *testing.T) {
	s := &countingStore{text: strings.Repeat("p", 4096)}
	const max = 256 << 10
	a := NewAnswerCache(s, AnswerCacheConfig{MaxBytes: max})
	a.Following()
	defer a.Lost()
	for i := range 1000 { // about 4 MB of answers
		if _, err := a.Feed(t.Context(), pulse.FeedQuery{UserID: fmt.Sprintf("u%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	a.mu.RLock()
	a.cache.CleanUp()
	a.mu.RUnlock()
	if st := a.Stats(); st.Bytes > max || st.Bytes < 4096 {
		t.Fatalf("%d bytes cached, want some and at most %d", st.Bytes, max)
	}
}

func TestAnswerCacheExpires(t *testing.T) {
	s := &countingStore{}
	a := NewAnswerCache(s, AnswerCacheConfig{TTL: 50 * time.Millisecond})
	a.Following()
	defer a.Lost()
	series(t, a, "u", pulse.GrainDay)
	s.version.Store(1)
	// Without any change told: the answer is served until its TTL.
	testkit.Eventually(t, 10*time.Second, func() error {
		if v := series(t, a, "u", pulse.GrainDay); v != 1 {
			return fmt.Errorf("still the cached %d", v)
		}
		return nil
	})
}

// Identical queries arriving while one is computed wait for it.
func TestAnswerCacheSharesALoad(t *testing.T) {
	s := &countingStore{entered: make(chan struct{}), release: make(chan struct{})}
	a := NewAnswerCache(s, AnswerCacheConfig{})
	a.Following()
	defer a.Lost()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := a.Series(context.Background(), pulse.SeriesQuery{UserID: "u", Grain: pulse.GrainDay}); err != nil {
				t.Error(err)
			}
		})
	}
	<-s.entered
	// Whichever query came first holds the load; the others join it or
	// find its answer. Any other load would be let through, and counted.
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-s.entered:
				s.release <- struct{}{}
			case <-done:
				return
			}
		}
	}()
	s.release <- struct{}{}
	wg.Wait()
	close(done)
	if n := s.calls.Load(); n != 1 {
		t.Fatalf("%d store calls for 4 identical concurrent queries, want 1", n)
	}
}
