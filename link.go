package pulse

import (
	"time"

	"github.com/pulsehq/pulse/topics"
)

// LinkStatus is the state of a linked account.
type LinkStatus string

const (
	// LinkActive links are fetched on schedule.
	LinkActive LinkStatus = "active"
	// LinkNeedsReauth links have tokens the platform rejects; the user must
	// link the account again. They are not fetched.
	LinkNeedsReauth LinkStatus = "needs_reauth"
	// LinkRevoked links were revoked by the user on the platform side. They
	// are not fetched.
	LinkRevoked LinkStatus = "revoked"
)

// Valid reports whether s is one of the statuses above.
func (s LinkStatus) Valid() bool {
	return s == LinkActive || s == LinkNeedsReauth || s == LinkRevoked
}

// Link is a social account linked to a Pulse user. Its OAuth tokens are not
// part of it; the store hands them out separately, decrypted.
type Link struct {
	ID           string // UUID
	UserID       string
	Platform     topics.Platform
	AccountID    string // the platform's id for the account
	Handle       string
	Status       LinkStatus
	StatusReason string    // why the status was set; "" when active
	StatusAt     time.Time // when the status last changed
	// ExpiresAt is when the access token expires; zero if it does not or
	// the platform did not say.
	ExpiresAt time.Time
	Scopes    string // granted OAuth scopes, space-separated
	CreatedAt time.Time
	UpdatedAt time.Time
	// LastFetchedAt is when the account was last fetched; zero if never.
	LastFetchedAt time.Time
	// NextFetchAt is when the scheduler should fetch the account next. A
	// claim of due links reports the value from before the claim.
	NextFetchAt time.Time
	// RefreshRequested reports a pending refresh request (the refresh
	// button) that the scheduler has not yet acted on.
	RefreshRequested bool
}

// DueAccount is a platform account due for a fetch, as the scheduler's
// store claims it.
type DueAccount struct {
	AccountID string
	// Links are the account's active links, oldest first; the first one's
	// token is used, and the result goes to every one.
	Links []DueLink
	// DueAt is the earliest due time of its links before the claim.
	DueAt time.Time
	// RefreshAt is the latest pending refresh request of its links; zero
	// when none is pending.
	RefreshAt time.Time
	// Key is the store's own handle of the account, or 0; the scheduler
	// echoes it in NextFetch.Key so a store may find the account without
	// looking its id up.
	Key int64
	// Posts is where its links' incremental posts reads stand: the
	// cursor only when every link has one (a link without one, new or
	// from before cursors, needs a full read), the oldest re-read times.
	Posts PostsState
}

// PostsState is where a platform account's incremental posts reads stand
// (see the scheduler's decaying refresh).
type PostsState struct {
	// Cursor is where the next posts read starts, in the connector's
	// format; "": the next read is a full one.
	Cursor string
	// WeekAt and MonthAt are when the posts of the last 7 and 30 days
	// were last all re-read (a full read counts as both); zero: never.
	WeekAt, MonthAt time.Time
}

// PostsRead is what one fetch read of an account's posts, as the fetcher
// records it on each link it delivered to.
type PostsRead struct {
	// Cursor is where the next incremental read starts ("": keep the
	// link's).
	Cursor string
	// Days is how many days of posts it re-read: 7, 30 (or a full read),
	// or 0 (only new posts).
	Days int
	// At is when it was read.
	At time.Time
}

// DueLink is one link of a due account.
type DueLink struct {
	LinkID, UserID string
	LastFetchedAt  time.Time // zero: never fetched
}

// NextFetch is when a platform account is due next.
type NextFetch struct {
	AccountID string
	At        time.Time
	// Served: refresh requests made at or before it are served. Zero
	// leaves them pending (a deferred fetch).
	Served time.Time
	// Claimed is when the account was claimed: a refresh requested after
	// it (pressed while the account was being scheduled) makes it due at
	// the press instead of At. Zero: no claim.
	Claimed time.Time
	// Key is DueAccount.Key of the claim, or 0; a store that sets it may
	// trust it to name AccountID.
	Key int64
}

// PurgeRequest is a deleted user whose analytics rows must be deleted.
type PurgeRequest struct {
	UserID string
	// LinkIDs are the links the user had when deleted: the keys of their
	// rows in the processors' tables besides the user's own.
	LinkIDs     []string
	RequestedAt time.Time
	// Attempts counts the claims so far, this one included.
	Attempts int
	// LastError is the failure recorded last, if any.
	LastError string
}

// GrantAccount is one account a link grant covers.
type GrantAccount struct {
	ID     string `json:"id"`
	Handle string `json:"handle"`
}

// LinkGrant is a consent covering several accounts (a Facebook login
// managing several Pages), waiting for the user to choose which to link.
// Its token is not part of it.
type LinkGrant struct {
	ID        string
	UserID    string
	Platform  topics.Platform
	Accounts  []GrantAccount
	CreatedAt time.Time
	ExpiresAt time.Time
}

// MaxGrantAccounts bounds the accounts one grant may list.
const MaxGrantAccounts = 500
