package e2e_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/assembly"
	"github.com/pulsehq/pulse/kafka"
	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/postgres/pgtest"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/sim"
	"github.com/pulsehq/pulse/topics"
)

// budgetDay runs the scheduler over one simulated UTC day with more LinkedIn
// fetches due than the budget allows, fetching every request it emits
// from the simulator, and returns how many fetches were made and how many
// requests the simulator refused for an exhausted limit.
//
// The simulated app may call each LinkedIn endpoint appLimit times a day;
// the scheduler's budget is perDay calls a day per endpoint. A fetch reads
// up to two posts pages: the scheduler plans one and is charged for the
// second by the fetch's outcome.
func budgetDay(t *testing.T, perDay float64, appLimit int) (fetches int, breaches int64) {
	t.Helper()
	ctx := context.Background()
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := &stepClock{t: start}
	now := func() time.Time { clock.mu.Lock(); defer clock.mu.Unlock(); return clock.t }
	advance := func(d time.Duration) { clock.mu.Lock(); clock.t = clock.t.Add(d); clock.mu.Unlock() }

	const pages = 60
	s, err := sim.New(sim.Config{Seed: 11, Accounts: pages, Clock: now,
		LinkedIn: sim.LinkedInConfig{App: sim.Limit{Requests: appLimit, Window: 24 * time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	base := sim.BaseURL(srv.URL, topics.LinkedIn)
	conn, err := platforms.New(topics.LinkedIn, platforms.Config{BaseURL: base, AuthBaseURL: base,
		ClientID: "budget", ClientSecret: "secret", MaxPostPages: 2})
	if err != nil {
		t.Fatal(err)
	}

	db := pgtest.MustOpen(t)
	u, err := db.CreateUser(ctx, fmt.Sprintf("budget-%v@example.com", perDay), "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range s.Accounts(topics.LinkedIn) {
		access, refresh, expiry, err := s.IssueToken(topics.LinkedIn, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.UpsertLink(ctx, u.ID, topics.LinkedIn, a.ID, a.Handle, &oauth2.Token{AccessToken: access, RefreshToken: refresh, Expiry: expiry}, ""); err != nil {
			t.Fatal(err)
		}
	}

	b, err := kafka.StartBroker(kafka.BrokerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Every page wants a fetch each hour: 60 × 24 a day, far more than the
	// budget allows, so the scheduler runs at its budget all day.
	asm, err := assembly.New(ctx, assembly.Config{
		Components: []string{assembly.Scheduler},
		Kafka:      assembly.KafkaConfig{Brokers: b.Addrs()},
		Postgres:   assembly.PostgresConfig{DB: db},
		Scheduler: assembly.SchedulerConfig{Clock: now,
			Limits: map[topics.Platform]scheduler.Limits{topics.LinkedIn: scheduler.LinkedInLimits(perDay, 2000)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer asm.Close()
	sched, err := asm.NewScheduler()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		sched.Run(cctx) // closes its client
	}()
	requests, err := kafka.NewClient(b.Addrs(), kgo.ConsumeTopics(topics.FetchRequests), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer requests.Close()

	// A simulated day, a minute at a time: the scheduler emits what its
	// budget allows and a fetcher stand-in fetches each request at once.
	var emitted int64
	for minute := 0; minute < 24*60; minute++ {
		advance(time.Minute)
		if err := sched.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		for want := sched.Emitted()[topics.LinkedIn]; emitted < want; {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			fs := requests.PollFetches(pctx)
			timedOut := pctx.Err() != nil
			cancel()
			if timedOut {
				t.Fatalf("read %d of %d requests", emitted, want)
			}
			fs.EachRecord(func(r *kgo.Record) {
				emitted++
				req, err := topics.FetchRequestCodec.Unmarshal(r.Value)
				if err != nil {
					t.Fatal(err)
				}
				tok, _, err := db.LinkToken(ctx, req.LinkID)
				if err != nil {
					t.Fatal(err)
				}
				res, err := conn.Fetch(ctx, tok, platforms.Request{AccountID: req.AccountID})
				if err != nil && platforms.ClassOf(err) != platforms.Throttled {
					t.Fatalf("fetch: %v", err)
				}
				fetches++
				if err == nil {
					// The fetcher's outcome charges the pages read.
					if err := sched.Apply(ctx, &topics.FetchOutcome{Platform: topics.LinkedIn, AccountID: req.AccountID,
						Outcome: topics.OutcomeOK, PostPages: len(res.PostBodies)}); err != nil {
						t.Fatal(err)
					}
				}
				if err := db.MarkFetched(ctx, req.LinkID, now()); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	return fetches, s.Stats().Platforms[topics.LinkedIn].LimitBreaches
}

// TestBudgetKeepsAPlatformWithinItsDailyLimit shows, over a simulated day
// with more pages than the budget can serve, that a budget sized to the
// limit never exceeds it, and that the simulator would have caught one that
// is not.
func TestBudgetKeepsAPlatformWithinItsDailyLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a day of scheduling")
	}
	// (24*10 + 1) * 2 = 482 <= 500.
	// The budget is the limit: the scheduler keeps 2 % of it unused.
	fetches, breaches := budgetDay(t, 500, 500)
	t.Logf("budget 500 calls/day/endpoint: %d fetches in the day, %d refused", fetches, breaches)
	if breaches != 0 {
		t.Errorf("a budget within the limit: %d requests refused", breaches)
	}
	// Each fetch calls the posts endpoint once or twice: at least 245
	// fetches, whatever their pages, fit 490 calls.
	if fetches < 245 || fetches > 490 {
		t.Errorf("fetched %d times in a day", fetches)
	}
	// Control: a budget past the limit gets requests refused.
	fetches, breaches = budgetDay(t, 700, 500)
	t.Logf("budget 700 calls/day/endpoint: %d fetches in the day, %d refused", fetches, breaches)
	if breaches == 0 {
		t.Errorf("a budget above the limit was never refused: the check cannot fail")
	}
}
