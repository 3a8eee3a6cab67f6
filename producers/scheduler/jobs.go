package scheduler

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// Jobs records what became of refresh presses (pulse.RefreshJob) as the
// scheduler acts on them: fetching once a press's fetch request is
// emitted, deferred with a reason and a time when the account's limits or
// a pause hold it back or its fetch failed transiently, processed when the
// fetch succeeded, failed when it cannot. *postgres.DB implements it. Each
// call moves only the unfinished jobs of the links named; links without
// one are left alone.
type Jobs interface {
	JobsFetching(ctx context.Context, linkIDs []string, at time.Time) error
	JobsFetched(ctx context.Context, linkIDs []string, ok bool, reason string) error
	JobsDeferred(ctx context.Context, linkIDs []string, reason string, until time.Time) error
}

// jobForget is how long a fetch request whose outcome never came is
// remembered: the API marks such jobs visible from the observations alone.
const jobForget = time.Hour

type acctRef struct {
	platform topics.Platform
	account  string
}

type inflight struct {
	acct  acctRef
	links []string
	at    time.Time
}

// jobTracker reports to Jobs on the accounts that have a refresh press
// pending (Due.RefreshAt), and on those it deferred after a failed fetch,
// so scheduled fetches cost no extra writes. Reports are best effort: a
// failed one is logged, and the API's visibility check catches up.
type jobTracker struct {
	jobs Jobs
	log  *slog.Logger

	mu       sync.Mutex
	inflight map[string]inflight  // fetch request id → the links it serves
	retrying map[acctRef][]string // accounts deferred after their fetch failed
	pruned   time.Time
}

func newJobTracker(jobs Jobs, log *slog.Logger) *jobTracker {
	if jobs == nil {
		return nil
	}
	return &jobTracker{jobs: jobs, log: log, inflight: map[string]inflight{}, retrying: map[acctRef][]string{}}
}

// wants reports whether d has jobs to report on.
func (t *jobTracker) wants(p topics.Platform, d Due) bool {
	if t == nil {
		return false
	}
	if !d.RefreshAt.IsZero() {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.retrying[acctRef{p, d.AccountID}]
	return ok
}

func linkIDs(d Due) []string {
	out := make([]string, len(d.Links))
	for i, l := range d.Links {
		out[i] = l.LinkID
	}
	return out
}

// tracked is an account with jobs whose fetch request was emitted.
type tracked struct {
	acct      acctRef
	links     []string
	requestID string
}

// trackDue copies what fetching needs of d and its request (the scheduler
// reuses both, and a request id shares its batch's string).
func trackDue(p topics.Platform, d Due, requestID string) tracked {
	return tracked{acct: acctRef{p, d.AccountID}, links: linkIDs(d), requestID: strings.Clone(requestID)}
}

// fetching reports the emitted requests of ts.
func (t *jobTracker) fetching(ctx context.Context, ts []tracked, now time.Time) {
	if t == nil || len(ts) == 0 {
		return
	}
	var links []string
	t.mu.Lock()
	for _, x := range ts {
		t.inflight[x.requestID] = inflight{acct: x.acct, links: x.links, at: now}
		delete(t.retrying, x.acct)
		links = append(links, x.links...)
	}
	if now.Sub(t.pruned) > time.Minute {
		t.pruned = now
		for id, f := range t.inflight {
			if now.Sub(f.at) > jobForget {
				delete(t.inflight, id)
			}
		}
	}
	t.mu.Unlock()
	if err := t.jobs.JobsFetching(ctx, links, now); err != nil {
		t.log.Warn("scheduler: refresh jobs fetching", "err", err)
	}
}

// deferred reports that d's fetch waits until at for its own limits: a
// pause the platform asked for, or the spacing between its fetches.
func (t *jobTracker) deferred(ctx context.Context, pl *Planner, p topics.Platform, d Due, at, now time.Time) {
	reason := pulse.DeferSpacing
	if app, acct := pl.PausedUntil(p, d.AccountID); app.After(now) || acct.After(now) {
		reason = pulse.DeferPaused
	}
	if err := t.jobs.JobsDeferred(ctx, linkIDs(d), reason, at); err != nil {
		t.log.Warn("scheduler: refresh jobs deferred", "err", err)
	}
}

// outcome reports a fetch's outcome on the jobs its request served; retry
// is when a deferred account is due again (zero: not deferred).
func (t *jobTracker) outcome(ctx context.Context, o *topics.FetchOutcome, retry time.Time) {
	if t == nil {
		return
	}
	t.mu.Lock()
	f, ok := t.inflight[o.RequestID]
	delete(t.inflight, o.RequestID)
	deferred := ok && !retry.IsZero() && (o.Outcome == topics.OutcomeThrottled || o.Outcome == topics.OutcomeTransient)
	if deferred {
		t.retrying[f.acct] = f.links
	}
	t.mu.Unlock()
	if !ok {
		return
	}
	var err error
	switch {
	case o.Outcome == topics.OutcomeOK:
		err = t.jobs.JobsFetched(ctx, f.links, true, "")
	case deferred && o.Outcome == topics.OutcomeThrottled:
		err = t.jobs.JobsDeferred(ctx, f.links, pulse.DeferPaused, retry)
	case deferred:
		err = t.jobs.JobsDeferred(ctx, f.links, pulse.DeferRetry, retry)
	case o.Outcome == topics.OutcomeReauth || o.Outcome == topics.OutcomePermission:
		err = t.jobs.JobsFetched(ctx, f.links, false, pulse.DeferReauth)
	default:
		err = t.jobs.JobsFetched(ctx, f.links, false, "the fetch failed ("+string(o.Outcome)+")")
	}
	if err != nil {
		t.log.Warn("scheduler: refresh jobs outcome", "outcome", o.Outcome, "err", err)
	}
}
