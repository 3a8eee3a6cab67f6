// Package platforms defines what Pulse needs from a social platform and the
// registry of connectors. Each platform lives in its own subpackage (x,
// facebook, instagram, linkedin) that registers a Factory; adding a platform
// means adding one package and one import line in platforms/all.
package platforms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/topics"
)

// Config configures one connector instance.
type Config struct {
	// BaseURL is the API root, e.g. "https://api.x.com". Default: the real
	// platform's URL. Tests and `pulse dev` point it at the simulator.
	BaseURL string
	// AuthBaseURL is the root of the OAuth authorize page. Default: the real
	// platform's.
	AuthBaseURL string
	// ClientID, ClientSecret: the app's OAuth credentials.
	ClientID     string
	ClientSecret string
	// RedirectURL is Pulse's OAuth callback for this platform.
	RedirectURL string
	// HTTPClient is used for every call. Default: a client with a 30 s timeout.
	HTTPClient *http.Client
	// MaxPostPages caps the pages of posts read per fetch. Default 5.
	MaxPostPages int
}

// Account is an account's counters as the platform reports them.
type Account struct {
	ID         string
	Handle     string
	Followers  int64
	Following  int64
	PostsCount int64
}

// Request says what one Fetch reads.
type Request struct {
	// AccountID is the linked account's platform id: Fetch reads exactly
	// that account, and an answer about another account is an error,
	// never a result. A grant that no longer covers it (the user unshared
	// a Page) is a Reauth error naming the account. Empty only to
	// identify the first account a fresh token reaches.
	AccountID string
	// Cursor is where the incremental posts fetch starts (a
	// Fetch.NextCursor): only posts newer than it are read (the newest
	// already read may be read again); empty: the platform's default
	// window.
	Cursor string
	// Since, with a Cursor, also reads every post created at or after it
	// (the decaying refresh of older posts' engagement): the fetch reads
	// the posts newer than the cursor or created since Since, whichever
	// reaches further back, newest first and up to MaxPostPages pages.
	// Zero: the cursor alone. Without a Cursor it is ignored.
	Since time.Time
	// Backfill also reads the account's history where the platform serves
	// it (the first fetch of a new link): HistoryDays days of daily
	// followers and insights instead of the last two days.
	Backfill bool
	// SkipPosts reads the account (and insights) without its posts: the
	// app's posts budget has no room (X's monthly post cap).
	SkipPosts bool
}

// HistoryDays is how many past days a backfill reads, where the platform
// serves them (Instagram's insights reach back 30 days).
const HistoryDays = 30

// Fetch is the result of one fetch: the raw bodies as returned by the API
// (one per call), and how much quota it cost.
type Fetch struct {
	// AccountBody is the raw JSON of the account call.
	AccountBody []byte
	// PostBodies are the raw JSON pages of the posts calls, newest first.
	PostBodies [][]byte
	// InsightBodies are the raw JSON of the account insights calls: daily
	// followers (totals or changes) and insights, for the last two days or,
	// on a backfill, HistoryDays days. See InsightsParser.
	InsightBodies [][]byte
	// Skipped names the metrics the platform no longer serves that this
	// fetch left out (Meta retires metrics often): a retired metric is
	// skipped and counted here, never an error.
	Skipped []string
	// AccountID is the platform's id for the account, when known.
	AccountID string
	// NextCursor is where the next incremental posts fetch starts.
	NextCursor string
	// Calls is the number of HTTP requests made.
	Calls int
	// PostsRead is the number of posts read, where the platform meters
	// reads by the post (X); 0 elsewhere.
	PostsRead int
	// Limit is the latest rate-limit state the platform signalled.
	Limit RateLimit
	// Usage is the latest usage the platform reported for each of its
	// limits (by Scope and Name) during the fetch; nil when it reported
	// none (LinkedIn reports none).
	Usage []Usage
}

// Usage is what a platform reported about one of its limits in a
// response: X's x-rate-limit-* headers (per user and endpoint), Meta's
// X-App-Usage (the app's) and X-Business-Use-Case-Usage (the Page's or
// Instagram account's).
type Usage struct {
	// Scope is whose limit it is: topics.LimitScopeApp or
	// topics.LimitScopeAccount.
	Scope string
	// Name is the limit's name as the scheduler's scopes name it: X's
	// endpoint ("users/me", "users/:id/tweets"), Meta's "app" or
	// business-use-case type ("pages", "instagram").
	Name string
	// UsedPct is the share of the window used, 0 to 100; -1 when the
	// platform reports counts instead.
	UsedPct int
	// Remaining and Limit are calls in the window; -1 when not reported.
	Remaining, Limit int
	// Reset is when the window resets or access is regained; zero when
	// not reported.
	Reset time.Time
}

// SetUsage records u in *us, replacing an earlier report of the same
// limit.
func SetUsage(us *[]Usage, u Usage) {
	for i := range *us {
		if (*us)[i].Scope == u.Scope && (*us)[i].Name == u.Name {
			(*us)[i] = u
			return
		}
	}
	*us = append(*us, u)
}

// RateLimit is the platform's rate-limit signals turned into one value.
type RateLimit struct {
	// Remaining calls in the current window, or -1 when unknown.
	Remaining int
	// Limit is the window's size in calls, or -1 when unknown.
	Limit int
	// Reset is when the window resets; zero when unknown.
	Reset time.Time
	// UsagePct is the platform-reported usage percentage (Meta), 0..100, or
	// -1 when not reported.
	UsagePct int
}

// Unknown returns a RateLimit with nothing known.
func Unknown() RateLimit { return RateLimit{Remaining: -1, Limit: -1, UsagePct: -1} }

// Connector speaks one platform's API. Implementations are safe for
// concurrent use.
type Connector interface {
	// Platform returns the platform this connector serves.
	Platform() topics.Platform
	// OAuth2 returns the OAuth configuration (real authorize and token URLs,
	// scopes).
	OAuth2() *oauth2.Config
	// UsesPKCE reports whether the authorize flow uses PKCE.
	UsesPKCE() bool
	// Exchange turns an authorization code into a token, upgrading it to a
	// long-lived token where the platform has one.
	Exchange(ctx context.Context, code, verifier string) (*oauth2.Token, error)
	// Refresh renews tok by the platform's rules.
	Refresh(ctx context.Context, tok *oauth2.Token) (*oauth2.Token, error)
	// Fetch reads the account req names, its posts since req.Cursor and,
	// where the platform serves them, its insights (and on req.Backfill its
	// history). Errors are *Error values.
	Fetch(ctx context.Context, tok *oauth2.Token, req Request) (*Fetch, error)
	// ParseAccount decodes an account body as returned in Fetch.AccountBody.
	ParseAccount(body []byte) (Account, error)
	// ParsePosts decodes one posts page as returned in Fetch.PostBodies.
	ParsePosts(body []byte) ([]PostData, error)
}

// PostData is one post as the platform reports it.
type PostData struct {
	ID        string
	CreatedAt time.Time
	Text      string
	Permalink string
	Likes     int64
	Comments  int64
	Shares    int64
	Views     int64
	// Reach (accounts that saw the post) and Saves, 0 where the platform
	// does not report them.
	Reach int64
	Saves int64
}

// AccountLister is implemented by connectors whose grants can cover
// several accounts (a Facebook login managing several Pages, Instagram
// accounts, LinkedIn organizations): Accounts lists them, in the
// platform's order, for the user to choose which to link.
type AccountLister interface {
	Accounts(ctx context.Context, tok *oauth2.Token) ([]Account, error)
}

// DayMetrics are one account's numbers over one UTC day as an insights
// call reports them; nil where the call did not.
type DayMetrics struct {
	// Day is the day's start, UTC.
	Day time.Time
	// Followers is the total at the day's end (Facebook page_follows);
	// FollowerGain the day's net change (Instagram follower_count), from
	// which totals are counted back from the account's live count.
	Followers    *int64
	FollowerGain *int64
	Reach        *int64
	Views        *int64
	ProfileViews *int64
}

// InsightsParser is implemented by connectors that fill
// Fetch.InsightBodies: it decodes one body into days, oldest first.
type InsightsParser interface {
	ParseInsights(body []byte) ([]DayMetrics, error)
}

// Class is the small set of error classes callers act on.
type Class int

const (
	// Transient: 5xx, timeouts, malformed responses; retry with backoff.
	Transient Class = iota
	// Throttled: the platform's rate limit was hit; retry at RetryAfter.
	Throttled
	// Reauth: the token is invalid, expired or revoked; the user must relink.
	Reauth
	// Permission: a permission/scope is missing.
	Permission
	// Permanent: retrying will not help.
	Permanent
)

func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Throttled:
		return "throttled"
	case Reauth:
		return "reauth"
	case Permission:
		return "permission"
	case Permanent:
		return "permanent"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Error is a classified platform error. Its message never contains a token.
type Error struct {
	Platform   topics.Platform
	Op         string
	Class      Class
	Status     int       // HTTP status, 0 if none
	Code       int       // platform error code, 0 if none
	RetryAfter time.Time // for Throttled
	// Scope, for Throttled, is whose limit the platform said is exhausted:
	// topics.LimitScopeApp (the app's, on every account) or
	// topics.LimitScopeAccount (this account's or its user's); "" when it
	// did not say.
	Scope string
	Limit RateLimit
	Err   error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %s", e.Platform, e.Op, e.Class)
	if e.Status != 0 {
		msg += fmt.Sprintf(" (http %d", e.Status)
		if e.Code != 0 {
			msg += fmt.Sprintf(", code %d", e.Code)
		}
		msg += ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns err's class; errors that are not *Error are Transient.
func ClassOf(err error) Class {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Class
	}
	return Transient
}

// Factory builds a connector from its config.
type Factory func(Config) (Connector, error)

var (
	mu        sync.RWMutex
	factories = map[topics.Platform]Factory{}
)

// Register makes a platform available. It panics on a duplicate, like
// database/sql.Register; call it from the platform package's init.
func Register(p topics.Platform, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[p]; dup {
		panic("platforms: Register called twice for " + string(p))
	}
	factories[p] = f
}

// New builds the connector for p.
func New(p topics.Platform, cfg Config) (Connector, error) {
	mu.RLock()
	f, ok := factories[p]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("platforms: unknown platform %q", p)
	}
	return f(cfg)
}

// Registered lists the registered platforms, sorted.
func Registered() []topics.Platform {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]topics.Platform, 0, len(factories))
	for p := range factories {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
