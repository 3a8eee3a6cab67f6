package topics

import "time"

// Platform names a social platform. The values are stable identifiers used
// in topics, PostgreSQL and ClickHouse.
type Platform string

const (
	Facebook  Platform = "facebook"
	Instagram Platform = "instagram"
	X         Platform = "x"
	LinkedIn  Platform = "linkedin"
)

// Schema versions of the values below. Adding an optional field keeps the
// version (older consumers ignore it); a version bump changes how fields
// are encoded, and its decoder reads every older version; a change that
// older records cannot be read into is a new topic.
const (
	FetchRequestVersion = 1
	// RawPayload 2 embeds the bodies as JSON (1: base64 strings); the
	// decoder reads both.
	RawPayloadVersion      = 2
	AccountSnapshotVersion = 1
	PostVersion            = 1
	FetchOutcomeVersion    = 1
	DeadLetterVersion      = 1
	UserAggregateVersion   = 1
	UserDeletionVersion    = 1
	LinkDeletionVersion    = 1
	AnalyticsChangeVersion = 1
)

// Reason says why a fetch was requested.
type Reason string

const (
	ReasonScheduled Reason = "scheduled" // the scheduler's regular refresh
	ReasonOnDemand  Reason = "on_demand" // the user pressed refresh
	ReasonInitial   Reason = "initial"   // first fetch after linking
)

// FetchRequest asks a fetcher to read one linked account.
type FetchRequest struct {
	V           int       `json:"v"`
	ID          string    `json:"id"` // unique per request; echoed on the raw payload
	LinkID      string    `json:"link_id"`
	UserID      string    `json:"user_id"`
	Platform    Platform  `json:"platform"`
	Reason      Reason    `json:"reason"`
	RequestedAt time.Time `json:"requested_at"`
	// PostsSince is the cursor for incremental post fetches (the
	// connector's format, from the link's last fetch): only posts newer
	// than it are read. Empty: a full read of the connector's default
	// window.
	PostsSince string `json:"posts_since,omitempty"`
	// RefreshDays, with PostsSince, also re-reads the posts created in the
	// last RefreshDays days, refreshing their engagement (the scheduler's
	// decaying schedule: 7 once a day, RecentDays once a week); 0: only
	// the posts newer than PostsSince. Optional.
	RefreshDays int `json:"refresh_days,omitempty"`
	// Backfill asks for the account's history too, where the platform
	// serves it (the scheduler's first fetch of a link implies it; an
	// operator may ask again: a re-run changes no answer).
	Backfill bool `json:"backfill,omitempty"`
	// AccountID is the platform's id of the account to fetch, when known.
	AccountID string `json:"account_id,omitempty"`
	// SkipPosts asks for the account without its posts: the app's posts
	// budget has no room (X's monthly post cap). Optional.
	SkipPosts bool `json:"skip_posts,omitempty"`
	// AlsoFor are the other Pulse links to the same platform account: the
	// fetch is made once, with LinkID's token, and its result delivered to
	// each of them too (as a raw payload keyed by its link ID).
	AlsoFor []LinkRef `json:"also_for,omitempty"`
}

// LinkRef names a link and its user.
type LinkRef struct {
	LinkID string `json:"link_id"`
	UserID string `json:"user_id"`
}

// RawPayload is everything one fetch read from a platform: the account
// call's response body and each page of the posts calls, unmodified. One
// fetch is one record, so the normalizer sees a fetch whole.
//
// Its encoding is written by hand (rawpayload.go). From version 2 each
// body is embedded as JSON when it is a JSON object or array (as the
// platforms' are; whitespace around it is not kept), else as a base64
// string; version 1 wrote every body as a base64 string. Decoders of
// version 2 read both, so a replay of old records works; a consumer built
// for version 1 rejects version 2 (ErrUnknownVersion), so the normalizer
// is deployed before the fetcher.
type RawPayload struct {
	V         int       `json:"v"`
	RequestID string    `json:"request_id"`
	LinkID    string    `json:"link_id"`
	UserID    string    `json:"user_id"`
	Platform  Platform  `json:"platform"`
	AccountID string    `json:"account_id"` // platform's account id, when known
	FetchedAt time.Time `json:"fetched_at"`
	// Account is the account call's response body.
	Account []byte `json:"account" schema:"body"`
	// PostPages are the posts calls' response bodies, newest first.
	PostPages [][]byte `json:"post_pages,omitempty" schema:"body"`
	// Insights are the account insights calls' response bodies: daily
	// followers (history) and insights, parsed by the platform's
	// InsightsParser. Optional.
	Insights [][]byte `json:"insights,omitempty" schema:"body"`
	// PostsSkipped: the fetch read no posts by design (its request's
	// SkipPosts), so PostPages is empty without the account having none.
	// Optional.
	PostsSkipped bool `json:"posts_skipped,omitempty"`
	// PostsIncremental: PostPages hold only the posts newer than the
	// request's cursor (and those of its refresh window, shorter than
	// RecentWindow), not every recent post; the normalizer merges them
	// with the posts it knew. Optional.
	PostsIncremental bool `json:"posts_incremental,omitempty"`
}

// AccountSnapshot is one observation of an account's counters, normalized
// across platforms. Its identity is (UserID, Platform, AccountID, Hour); a
// later observation in the same hour supersedes an earlier one (Version is
// the observation time in Unix milliseconds; for a History snapshot, the
// time it was estimated: its fetch's Version less one millisecond per
// later history point, so a later estimate of a past day supersedes an
// earlier one and no two estimates share a version).
type AccountSnapshot struct {
	V          int       `json:"v"`
	LinkID     string    `json:"link_id"`
	UserID     string    `json:"user_id"`
	Platform   Platform  `json:"platform"`
	AccountID  string    `json:"account_id"`
	Handle     string    `json:"handle,omitempty"`
	Hour       time.Time `json:"hour"` // ObservedAt truncated to the hour, UTC
	ObservedAt time.Time `json:"observed_at"`
	Followers  int64     `json:"followers"`
	Following  int64     `json:"following"`
	PostsCount int64     `json:"posts_count"`
	// RecentPosts and RecentEngagement count the fetched posts created in
	// the 30 days before ObservedAt, and their likes + comments + shares.
	RecentPosts      int   `json:"recent_posts"`
	RecentEngagement int64 `json:"recent_engagement"`
	Version          int64 `json:"version"`
	// PostsSkipped marks a fetch that read no posts (X's monthly post cap
	// had no room): RecentPosts and RecentEngagement are then those of the
	// newest observation of the link that read them. Optional.
	PostsSkipped bool `json:"posts_skipped,omitempty"`
	// History marks a point of the account's past read from the
	// platform's history (a backfill): ObservedAt is the end of the day it
	// describes (less a second), only Followers is known, and the
	// counters Following, PostsCount, RecentPosts and RecentEngagement
	// are 0. Optional.
	History bool `json:"history,omitempty"`
	// PostsIncremental marks a fetch that read only new posts (and a
	// refresh window): RecentPosts and RecentEngagement then count the
	// link's recent posts as last read, these merged in. Optional.
	PostsIncremental bool `json:"posts_incremental,omitempty"`
	// Insights are the daily insights the fetch read (yesterday's final
	// values and today's so far, or on a backfill the last 30 days), each
	// superseding earlier observations of its day. Optional.
	Insights []DayInsights `json:"insights,omitempty"`
}

// DayInsights are an account's insights over one UTC day, as the platform
// reported them at the snapshot's ObservedAt (the current day's so far).
// A nil value was not reported (the platform has no such metric, or it
// was retired).
type DayInsights struct {
	// Day is the day's start, UTC.
	Day          time.Time `json:"day"`
	Reach        *int64    `json:"reach,omitempty"`
	Views        *int64    `json:"views,omitempty"`
	ProfileViews *int64    `json:"profile_views,omitempty"`
}

// RecentWindow is the window of RecentPosts and RecentEngagement.
const RecentWindow = RecentDays * 24 * time.Hour

// RecentDays is RecentWindow in days.
const RecentDays = 30

// Post is one post's engagement counters at one observation. Identity is
// (UserID, Platform, PostID, Hour of ObservedAt).
type Post struct {
	V          int       `json:"v"`
	LinkID     string    `json:"link_id"`
	UserID     string    `json:"user_id"`
	Platform   Platform  `json:"platform"`
	AccountID  string    `json:"account_id"`
	PostID     string    `json:"post_id"`
	CreatedAt  time.Time `json:"created_at"`
	ObservedAt time.Time `json:"observed_at"`
	Text       string    `json:"text,omitempty"` // excerpt, at most 280 runes
	Permalink  string    `json:"permalink,omitempty"`
	Likes      int64     `json:"likes"`
	Comments   int64     `json:"comments"`
	Shares     int64     `json:"shares"`
	Views      int64     `json:"views"` // 0 where the platform does not report views
	Version    int64     `json:"version"`
	// Reach (accounts that saw the post) and Saves, 0 where the platform
	// does not report them. Optional.
	Reach int64 `json:"reach,omitempty"`
	Saves int64 `json:"saves,omitempty"`
}

// Outcome classifies a fetch's result.
type Outcome string

const (
	OutcomeOK          Outcome = "ok"
	OutcomeThrottled   Outcome = "throttled"
	OutcomeReauth      Outcome = "reauth_needed"
	OutcomePermission  Outcome = "permission_missing"
	OutcomeTransient   Outcome = "transient"
	OutcomePermanent   Outcome = "permanent"
	OutcomeLinkMissing Outcome = "link_missing"
)

// FetchOutcome reports what one fetch did, for the scheduler's throttle
// feedback and for operators.
type FetchOutcome struct {
	V          int       `json:"v"`
	RequestID  string    `json:"request_id"`
	LinkID     string    `json:"link_id"`
	UserID     string    `json:"user_id"`
	Platform   Platform  `json:"platform"`
	Outcome    Outcome   `json:"outcome"`
	Error      string    `json:"error,omitempty"` // never contains a token
	Calls      int       `json:"calls"`           // API calls the fetch cost
	RetryAfter time.Time `json:"retry_after,omitzero"`
	// Remaining is the platform's reported remaining quota after the fetch,
	// or -1 when unknown.
	Remaining int       `json:"remaining"`
	At        time.Time `json:"at"`
	// SkippedMetrics names the metrics the platform no longer serves that
	// the fetch left out (counted, never an error). Optional.
	SkippedMetrics []string `json:"skipped_metrics,omitempty"`
	// AccountID is the platform's id of the account fetched, when known.
	AccountID string `json:"account_id,omitempty"`
	// LimitScope, for a throttled fetch, is whose limit the platform said
	// was exhausted: "app" (the app's, on every account), "account" (this
	// account's or its user's only), or "" when it did not say.
	LimitScope string `json:"limit_scope,omitempty"`
	// PostPages is the number of posts pages read.
	PostPages int `json:"post_pages,omitempty"`
	// PostsRead is the number of posts read, where the platform meters
	// them (X). Optional.
	PostsRead int `json:"posts_read,omitempty"`
	// Usage is what the platform reported about its limits during the
	// fetch, latest per limit; the scheduler corrects its budget model
	// with it (a limit nearly spent pauses its scope before a 429).
	Usage []LimitUsage `json:"usage,omitempty"`
	// Incremental reports a fetch that read its posts from a cursor
	// (FetchRequest.PostsSince), so Calls shows the cursor's saving.
	// Optional.
	Incremental bool `json:"incremental,omitempty"`
	// RefreshDays is how many days of posts the fetch re-read: its
	// request's RefreshDays, RecentDays for a full read (no cursor), 0
	// when it read only new posts or none. Optional.
	RefreshDays int `json:"refresh_days,omitempty"`
	// NextCursor is where the account's next incremental posts read
	// starts (the fetcher stores it on the links it delivered to).
	// Optional.
	NextCursor string `json:"next_cursor,omitempty"`
}

// LimitUsage is a platform's report on one of its limits: X's
// x-rate-limit-* headers, Meta's X-App-Usage and
// X-Business-Use-Case-Usage.
type LimitUsage struct {
	// Scope is whose limit: LimitScopeApp or LimitScopeAccount.
	Scope string `json:"scope"`
	// Name is the limit's name as the scheduler's scopes name it, e.g.
	// "users/me", "app", "pages".
	Name string `json:"name"`
	// UsedPct is the share of the window used, 0 to 100; -1 when the
	// platform reports counts instead.
	UsedPct int `json:"used_pct"`
	// Remaining and Limit are calls in the window; -1 when not reported.
	Remaining int `json:"remaining"`
	Limit     int `json:"limit"`
	// Reset is when the window resets or access is regained; zero when
	// not reported.
	Reset time.Time `json:"reset,omitzero"`
}

// Limit scopes of FetchOutcome.LimitScope.
const (
	LimitScopeApp     = "app"
	LimitScopeAccount = "account"
)

// DeadLetter carries a record that could not be processed, with the reason
// and enough provenance to redrive it.
type DeadLetter struct {
	V           int       `json:"v"`
	Reason      string    `json:"reason"`
	SourceTopic string    `json:"source_topic"`
	Partition   int32     `json:"partition"`
	Offset      int64     `json:"offset"`
	Key         string    `json:"key"`
	Value       []byte    `json:"value"` // the original bytes
	At          time.Time `json:"at"`
}

// UserAggregate is one user's rolling numbers across all linked accounts,
// published by the aggregator after every change.
type UserAggregate struct {
	V         int                `json:"v"`
	UserID    string             `json:"user_id"`
	Accounts  []AccountAggregate `json:"accounts"`
	UpdatedAt time.Time          `json:"updated_at"`
}

// AccountAggregate is one account's latest values and rolling deltas.
// Deltas compare the latest followers with the latest observation at or
// before that long ago; with less history they compare with the oldest
// observation (and Since says how far back that is).
type AccountAggregate struct {
	LinkID     string    `json:"link_id"`
	Platform   Platform  `json:"platform"`
	AccountID  string    `json:"account_id"`
	Handle     string    `json:"handle,omitempty"`
	Followers  int64     `json:"followers"`
	Following  int64     `json:"following"`
	PostsCount int64     `json:"posts_count"`
	ObservedAt time.Time `json:"observed_at"`
	Delta24h   int64     `json:"delta_24h"`
	Delta7d    int64     `json:"delta_7d"`
	Delta30d   int64     `json:"delta_30d"`
	// EngagementRate is the mean of (likes + comments + shares) over the
	// account's posts of the last 30 days, divided by followers; 0 without
	// posts.
	EngagementRate float64 `json:"engagement_rate"`
	// Posts30d counts the posts published in the last 30 days.
	Posts30d int `json:"posts_30d"`
}

// UserDeletion asks the processors to forget a deleted user: the
// aggregator tombstones the user's row and sends a LinkDeletion for every
// link in it and in LinkIDs. Publishing it again is harmless.
type UserDeletion struct {
	V      int    `json:"v"`
	UserID string `json:"user_id"`
	// LinkIDs the publisher knew of, beyond those in the aggregator's row.
	LinkIDs   []string  `json:"link_ids,omitempty"`
	DeletedAt time.Time `json:"deleted_at"`
}

// LinkDeletion asks the normalizer to forget one link of a deleted user:
// it tombstones the link's row.
type LinkDeletion struct {
	V         int       `json:"v"`
	LinkID    string    `json:"link_id"`
	UserID    string    `json:"user_id"`
	DeletedAt time.Time `json:"deleted_at"`
}

// AnalyticsChange says that the sink changed what ClickHouse answers for a
// user: it inserted rows of theirs (Rollups false: the hourly rows and
// posts are visible, their day, month and year rollups not yet), or
// recomputed the rollups those rows touch (Rollups true). A reader that
// caches a user's answers drops them. The sink publishes it after the
// write it reports succeeded and before it commits the offsets of the
// records behind that write, so a crash in between publishes it again;
// publishing twice is harmless.
type AnalyticsChange struct {
	V       int    `json:"v"`
	UserID  string `json:"user_id"`
	Rollups bool   `json:"rollups,omitempty"`
	// At is when the write it reports succeeded.
	At time.Time `json:"at"`
}
