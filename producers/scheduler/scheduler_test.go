package scheduler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/internal/testkit"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/postgres"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/topics"
)

func TestMain(m *testing.M) { testkit.WrapTestMain(m) }

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

type harness struct {
	db    *postgres.DB
	s     *scheduler.Scheduler
	clock *fakeClock
	read  *kgo.Client
	links map[string]pulse.Link
	user  string
}

func newHarness(t *testing.T, links int, budget scheduler.Budget) *harness {
	t.Helper()
	b, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx := context.Background()
	if _, err := kafka.EnsureTopics(ctx, b.Addrs(), 0, kafka.TopicSpec{Name: topics.FetchRequests}); err != nil {
		t.Fatal(err)
	}
	h := &harness{db: pgtest.MustOpen(t), links: map[string]pulse.Link{}}
	u, err := h.db.CreateUser(ctx, "sched@example.com", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	h.user = u.ID
	for i := range links {
		l, err := h.db.UpsertLink(ctx, u.ID, topics.X, fmt.Sprint(1000+i), "h", &oauth2.Token{AccessToken: "t"}, "")
		if err != nil {
			t.Fatal(err)
		}
		h.links[l.ID] = l
	}
	// New links are due at once (next fetch: their creation time).
	h.clock = &fakeClock{t: time.Now().UTC().Add(time.Second)}
	h.s, err = scheduler.New(scheduler.Config{Brokers: b.Addrs(), Links: h.db, Clock: h.clock.Now,
		Budgets: map[topics.Platform]scheduler.Budget{topics.X: budget}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h.s.Run(ctx) // closes the scheduler's client
	})
	h.read, err = kafka.NewClient(b.Addrs(), kgo.ConsumeTopics(topics.FetchRequests), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.read.Close)
	return h
}

// tick runs one scheduling pass and returns the requests it emitted.
func (h *harness) tick(t *testing.T) []*topics.FetchRequest {
	t.Helper()
	before := h.s.Emitted()[topics.X]
	if err := h.s.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := int(h.s.Emitted()[topics.X] - before)
	var out []*topics.FetchRequest
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(out) < n {
		fs := h.read.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d requests", len(out), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			req, err := topics.FetchRequestCodec.Unmarshal(r.Value)
			if err != nil || string(r.Key) != req.LinkID {
				t.Fatalf("bad request %s: %v", r.Value, err)
			}
			out = append(out, req)
		})
	}
	return out
}

func TestBudgetSpreadAndOnDemand(t *testing.T) {
	h := newHarness(t, 30, scheduler.Budget{PerHour: 3600, Burst: 10}) // one a second
	t0 := h.clock.Now()
	seen := map[string]int{}
	count := func(reqs []*topics.FetchRequest) {
		for _, r := range reqs {
			seen[r.LinkID]++
			if r.Reason != topics.ReasonInitial || r.UserID != h.user || r.Platform != topics.X {
				t.Errorf("request %+v", r)
			}
		}
	}

	if got := h.tick(t); len(got) != 10 {
		t.Fatalf("first tick emitted %d, want the burst of 10", len(got))
	} else {
		count(got)
	}
	if got := h.tick(t); len(got) != 0 {
		t.Fatalf("second tick at the same instant emitted %d, want 0", len(got))
	}
	h.clock.Advance(5 * time.Second)
	got := h.tick(t)
	if len(got) != 5 {
		t.Fatalf("after 5s emitted %d, want 5", len(got))
	}
	count(got)
	// The budget refills at one a second, up to the burst: 15 left, 10 and 5.
	h.clock.Advance(time.Hour)
	if got := h.tick(t); len(got) != 10 {
		t.Fatalf("after an idle hour emitted %d, want the burst of 10", len(got))
	} else {
		count(got)
	}
	h.clock.Advance(10 * time.Second)
	count(h.tick(t))
	if len(seen) != 30 {
		t.Fatalf("%d of 30 links emitted", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("link %s emitted %d times", id, n)
		}
	}
	// Every link is next due within the last tenth of the 24h interval.
	links, err := h.db.Links(context.Background(), h.user)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if d := l.NextFetchAt.Sub(t0); d < 21*time.Hour || d > 25*time.Hour+time.Minute {
			t.Errorf("link %s next fetch in %v", l.ID, d)
		}
	}
	h.clock.Advance(time.Hour)
	if got := h.tick(t); len(got) != 0 {
		t.Fatalf("emitted %d links again within their interval", len(got))
	}

	// The refresh button makes one link due now, with its own reason.
	var one string
	for id := range h.links {
		one = id
		break
	}
	if n, err := h.db.RequestRefresh(context.Background(), h.user, one); err != nil || n != 1 {
		t.Fatalf("RequestRefresh: %d, %v", n, err)
	}
	got = h.tick(t)
	if len(got) != 1 || got[0].LinkID != one || got[0].Reason != topics.ReasonOnDemand {
		t.Fatalf("on-demand tick emitted %+v, want %s on demand", *got[0], one)
	}
}

func TestThrottleAndTransientFeedback(t *testing.T) {
	h := newHarness(t, 3, scheduler.Budget{PerHour: 36000, Burst: 10})
	ctx := context.Background()
	reqs := h.tick(t)
	if len(reqs) != 3 {
		t.Fatalf("emitted %d, want 3", len(reqs))
	}
	now := h.clock.Now()
	resetAt := now.Add(10 * time.Minute)
	if err := h.s.Apply(ctx, &topics.FetchOutcome{LinkID: reqs[0].LinkID, Platform: topics.X, Outcome: topics.OutcomeThrottled, RetryAfter: resetAt}); err != nil {
		t.Fatal(err)
	}
	if err := h.s.Apply(ctx, &topics.FetchOutcome{LinkID: reqs[1].LinkID, Platform: topics.X, Outcome: topics.OutcomeTransient}); err != nil {
		t.Fatal(err)
	}
	if !h.s.PausedUntil(topics.X).Equal(resetAt) {
		t.Fatalf("paused until %v, want %v", h.s.PausedUntil(topics.X), resetAt)
	}
	// After 5 minutes the transient link is due, but X is paused.
	h.clock.Advance(5 * time.Minute)
	if got := h.tick(t); len(got) != 0 {
		t.Fatalf("emitted %d while the platform is paused", len(got))
	}
	// At the reset both links are due again; the third is not.
	h.clock.Advance(5 * time.Minute)
	got := h.tick(t)
	ids := map[string]bool{}
	for _, r := range got {
		ids[r.LinkID] = true
	}
	if len(got) != 2 || !ids[reqs[0].LinkID] || !ids[reqs[1].LinkID] {
		t.Fatalf("after the reset emitted %+v, want the throttled and the failed link", got)
	}
}

func TestMinSpacingDefersARefreshRightAfterAFetch(t *testing.T) {
	h := newHarness(t, 1, scheduler.Budget{PerHour: 36000, Burst: 10, MinSpacing: 5 * time.Minute})
	ctx := context.Background()
	first := h.tick(t)
	if len(first) != 1 {
		t.Fatalf("emitted %d, want 1", len(first))
	}
	fetched := h.clock.Now()
	if err := h.db.MarkFetched(ctx, first[0].LinkID, fetched); err != nil {
		t.Fatal(err)
	}
	if n, err := h.db.RequestRefresh(ctx, h.user, first[0].LinkID); err != nil || n != 1 {
		t.Fatalf("RequestRefresh: %d, %v", n, err)
	}
	h.clock.Advance(time.Minute)
	if got := h.tick(t); len(got) != 0 {
		t.Fatalf("a refresh one minute after a fetch was emitted: %+v", *got[0])
	}
	l, err := h.db.LinkByID(ctx, first[0].LinkID)
	if err != nil || !l.NextFetchAt.Equal(fetched.Add(5*time.Minute).Truncate(time.Microsecond)) {
		t.Fatalf("next fetch %v (%v), want %v", l.NextFetchAt, err, fetched.Add(5*time.Minute))
	}
	h.clock.Advance(4 * time.Minute)
	if got := h.tick(t); len(got) != 1 || got[0].LinkID != first[0].LinkID {
		t.Fatalf("at the spacing's end emitted %+v", got)
	}
}
