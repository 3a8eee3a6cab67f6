package pulse

import "time"

// JobState is where a refresh job is.
type JobState string

// Refresh job states: queued → fetching → processed → visible, or
// deferred (with a reason and, when known, the time it will run) before
// fetching, or failed.
const (
	JobQueued    JobState = "queued"
	JobFetching  JobState = "fetching"
	JobProcessed JobState = "processed"
	JobVisible   JobState = "visible"
	JobDeferred  JobState = "deferred"
	JobFailed    JobState = "failed"
)

// Deferral reasons the scheduler and StartRefresh give.
const (
	DeferSpacing = "spacing: the account was fetched moments ago"
	DeferPaused  = "paused scope: the platform asked Pulse to slow down"
	DeferReauth  = "needs re-auth: reconnect the account"
	DeferRetry   = "retrying: the last fetch failed"
)

// RefreshJob is what one refresh press of one link became.
type RefreshJob struct {
	ID     string
	UserID string
	LinkID string
	State  JobState
	// Reason says why the job is deferred or failed; "" otherwise.
	Reason string
	// RunAt is when a deferred job will run; zero when unknown (needs
	// re-auth: when the account is reconnected).
	RunAt time.Time
	// FetchingAt is when its fetch was requested; zero before.
	FetchingAt time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Finished reports whether the job will not change again.
func (j RefreshJob) Finished() bool { return j.State == JobVisible || j.State == JobFailed }
