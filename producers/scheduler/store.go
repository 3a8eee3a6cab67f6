package scheduler

import (
	"context"
	"time"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// Store keeps each link's due time. The scheduler claims due platform
// accounts from it and tells it when each is due next. *postgres.DB
// implements it for real and MemStore in memory (tests, simulations).
type Store interface {
	// ClaimDue claims up to limit platform accounts of platform that have
	// an active link due at now, accounts with a pending refresh request
	// first, then the most overdue, and returns each with all its active
	// links. Claiming makes the account's links due again at now+lease,
	// so a scheduler that dies before Reschedule does not lose them.
	ClaimDue(ctx context.Context, platform topics.Platform, now time.Time, limit int, lease time.Duration) ([]Due, error)
	// Reschedule sets when each account's active links are next due (see
	// pulse.NextFetch.Claimed) and marks refresh requests made at or before its
	// Served time served (zero: none is). Unknown accounts are skipped.
	Reschedule(ctx context.Context, platform topics.Platform, next []Next) error
	// CountAccounts returns how many platform accounts of platform have an
	// active link.
	CountAccounts(ctx context.Context, platform topics.Platform) (int, error)
}

// Due, DueLink and Next are the domain's types (package pulse), named
// for the scheduler.
type (
	Due     = pulse.DueAccount
	DueLink = pulse.DueLink
	Next    = pulse.NextFetch
)

// Waker is implemented by stores that can tell when links become due
// before their due time (a refresh press, a new link): Watch calls wake
// for each such change until ctx is done, and returns ctx's error or why
// it could not watch. *postgres.DB implements it with LISTEN/NOTIFY.
type Waker interface {
	Watch(ctx context.Context, wake func()) error
}

// DueAppender is implemented by stores that can claim into the caller's
// buffer (MemStore), so a scheduler claiming millions of accounts a day
// allocates nothing per claim.
type DueAppender interface {
	// ClaimDueAppend is ClaimDue appending the claimed accounts to buf.
	ClaimDueAppend(ctx context.Context, platform topics.Platform, now time.Time, limit int, lease time.Duration, buf []Due) ([]Due, error)
}
