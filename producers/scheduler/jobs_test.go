package scheduler_test

import (
	"testing"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/producers/scheduler"
	"github.com/pulsehq/pulse/topics"
)

// TestRefreshJobsFollowTheScheduler: on the real PostgreSQL store, a
// refresh press's job is deferred for spacing when the account was fetched
// moments ago, until its limits allow; fetching once its request is
// emitted, with the request's time; deferred (paused scope) until the
// platform's reset when the fetch is throttled, fetching again then, and
// processed after a good outcome. A press whose fetch finds the token
// revoked fails saying the account needs re-auth. Scheduled fetches leave
// finished jobs alone.
func TestRefreshJobsFollowTheScheduler(t *testing.T) {
	limits := map[topics.Platform]scheduler.Limits{topics.X: {Scopes: []scheduler.Scope{
		{Name: "users/me", Per: scheduler.PerAccount, Limit: 4, Window: time.Hour, Cost: 1},
	}}}
	e := newEnv(t, limits)
	var err error
	e.s, err = scheduler.New(scheduler.Config{Emitter: e.out, Store: e.db, Jobs: e.db, Clock: e.clock.Now, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	l := e.link(t, "ann", topics.X, "7")
	user := e.users["ann"]
	job := func(want pulse.JobState) pulse.RefreshJob {
		t.Helper()
		jobs, err := e.db.RefreshJobs(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 0 {
			t.Fatal("no refresh job")
		}
		if jobs[0].State != want {
			t.Fatalf("job %+v; want state %s", jobs[0], want)
		}
		return jobs[0]
	}
	ok := func(req *topics.FetchRequest, o topics.Outcome, retryAfter time.Time) {
		t.Helper()
		if err := e.s.Apply(ctx, &topics.FetchOutcome{RequestID: req.ID, LinkID: req.LinkID, UserID: req.UserID, Platform: topics.X,
			AccountID: "7", Outcome: o, RetryAfter: retryAfter, LimitScope: topics.LimitScopeAccount}); err != nil {
			t.Fatal(err)
		}
	}

	first := e.tick(t)["7"]
	if first == nil {
		t.Fatal("the new link was not fetched")
	}
	ok(first, topics.OutcomeOK, time.Time{})

	// A press right after that fetch: deferred for the account's spacing.
	if _, err := e.db.StartRefresh(ctx, user, l.ID); err != nil {
		t.Fatal(err)
	}
	job(pulse.JobQueued)
	if got := e.tick(t); len(got) != 0 {
		t.Fatalf("emitted %v within the account's spacing", accounts(got))
	}
	j := job(pulse.JobDeferred)
	if j.Reason != pulse.DeferSpacing || !j.RunAt.After(e.clock.Now()) {
		t.Fatalf("deferred job %+v; want the spacing reason and a time after %v", j, e.clock.Now())
	}

	// When the spacing allows: fetching, at the request's time.
	e.clock.Advance(j.RunAt.Sub(e.clock.Now()) + time.Second)
	req := e.tick(t)["7"]
	if req == nil || req.Reason != topics.ReasonOnDemand {
		t.Fatalf("at %v the press emitted %+v; want an on-demand request", e.clock.Now(), req)
	}
	if j = job(pulse.JobFetching); !j.FetchingAt.Equal(req.RequestedAt) {
		t.Fatalf("fetching since %v; want the request's time %v", j.FetchingAt, req.RequestedAt)
	}

	// Throttled on the account: deferred, paused scope, until the reset.
	reset := e.clock.Now().Add(30 * time.Minute).Truncate(time.Second)
	ok(req, topics.OutcomeThrottled, reset)
	if j = job(pulse.JobDeferred); j.Reason != pulse.DeferPaused || !j.RunAt.Equal(reset) {
		t.Fatalf("throttled job %+v; want paused until %v", j, reset)
	}
	e.clock.Advance(reset.Sub(e.clock.Now()) + time.Second)
	req = e.tick(t)["7"]
	if req == nil {
		t.Fatal("the throttled account was not fetched after its reset")
	}
	job(pulse.JobFetching)
	ok(req, topics.OutcomeOK, time.Time{})
	job(pulse.JobProcessed)

	// The next scheduled fetch leaves the finished job as it is.
	req = nil
	for range 8 {
		e.clock.Advance(15 * time.Minute)
		if req = e.tick(t)["7"]; req != nil {
			break
		}
	}
	if req == nil || req.Reason == topics.ReasonOnDemand {
		t.Fatalf("two hours on: %+v; want a fetch that no press asked for", req)
	}
	ok(req, topics.OutcomeOK, time.Time{})
	job(pulse.JobProcessed)

	// A revoked token: the press's job fails, saying so.
	if _, err := e.db.StartRefresh(ctx, user, l.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(20 * time.Minute) // past the spacing
	if req = e.tick(t)["7"]; req == nil || req.Reason != topics.ReasonOnDemand {
		t.Fatalf("the second press emitted %+v; want an on-demand request", req)
	}
	ok(req, topics.OutcomeReauth, time.Time{})
	if j = job(pulse.JobFailed); j.Reason != pulse.DeferReauth {
		t.Fatalf("job after a revoked token: %+v; want failed, %q", j, pulse.DeferReauth)
	}
}
