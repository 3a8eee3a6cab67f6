package scheduler

import (
	"errors"
	"fmt"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// Per says whose calls a Scope meters.
type Per string

const (
	// PerApp: every call the app makes, over all accounts.
	PerApp Per = "app"
	// PerAccount: the calls made for one platform account (a user token,
	// a Page, an organization), each account with its own window.
	PerAccount Per = "account"
)

// WindowKind is how a Scope's window moves.
type WindowKind string

const (
	// Rolling windows count the calls of the last Window at any moment
	// (Meta's rolling hour and sliding 24 hours), or open at the first
	// call (X's 15-minute windows). The scheduler spends from them as from
	// a token bucket that never lets any span of Window exceed the limit,
	// which covers both.
	Rolling WindowKind = "rolling"
	// Aligned windows start at multiples of Window since 0001-01-01 UTC:
	// LinkedIn's UTC days. The scheduler paces its spending over each.
	Aligned WindowKind = "aligned"
	// Monthly windows are calendar months, UTC (X's monthly post cap).
	Monthly WindowKind = "monthly"
)

// Scope is one limit a platform meters calls in: an app-wide limit, an
// app's limit on one endpoint, or a per-user (per-account) limit.
type Scope struct {
	// Name is the platform's name for the limit or its endpoint, e.g.
	// "users/me"; unique within the platform.
	Name string
	// Per is whose calls count: PerApp or PerAccount.
	Per Per
	// Limit is the units allowed per window. PerUser adds to it for
	// limits that grow with the app's users (Meta: 200 × users an hour).
	Limit float64
	// PerUser is the limit's share per linked account (Meta's "Number of
	// Users" is the app's daily active users; Pulse counts linked
	// accounts). Zero for a fixed limit.
	PerUser float64
	// Window is the window's length (Monthly: ignored, a calendar month).
	Window time.Duration
	// Kind is how the window moves. Default Rolling.
	Kind WindowKind
	// Cost is the units one fetch spends here, reading one page of posts.
	Cost float64
	// PageCost is the units each further page of posts spends here.
	PageCost float64
	// Unit is what the limit counts: "calls" (default) or "posts".
	Unit string
	// PlanOnly scopes are reported by the capacity plan but not spent by
	// the scheduler.
	PlanOnly bool
	// SkipPosts scopes meter the posts a fetch reads (Unit "posts"), not
	// its calls: when one has no room, fetches go on without their posts
	// (FetchRequest.SkipPosts) instead of waiting; what a fetch read is
	// charged from its outcome (FetchOutcome.PostsRead). X's monthly post
	// cap. App-wide only.
	SkipPosts bool
	// Source is where the number comes from.
	Source string
}

// LimitFor returns the scope's limit with accounts linked.
func (s Scope) LimitFor(accounts int) float64 { return s.Limit + s.PerUser*float64(accounts) }

// Limits are one platform's scopes and how the scheduler spends them.
type Limits struct {
	// Scopes the platform meters a fetch's calls in.
	Scopes []Scope
	// Headroom is the share of every limit the scheduler leaves unused, so
	// calls it did not plan (a retry, an extra page) stay inside the
	// platform's limit. Default 0.02.
	Headroom float64
	// Interval is how often each account is fetched when the budget has
	// room: at a stable minute within each Interval. Default 1 hour.
	Interval time.Duration
	// PostsPageSize is how many posts a page of the platform's posts call
	// holds. The capacity plan charges the decaying refresh's re-reads
	// (PostsPerDay posts a day of 7 or topics.RecentDays days, see
	// WeekRereadEvery) at PageCost for each page beyond a fetch's first.
	// Zero: re-reads are not planned for.
	PostsPageSize int
}

// The platforms' published limits. Pulse reads with user (or Page /
// organization) tokens, so the per-user limits apply per linked account.
var (
	// X API v2, Pro access (docs.x.com/x-api/fundamentals/rate-limits):
	// GET /2/users/me 75 requests per 15 minutes per user, GET
	// /2/users/:id/tweets 900 per 15 minutes per user; the per-app limits
	// in the same table apply to app-only Bearer tokens, which Pulse does
	// not use. Pro's post cap is 1,000,000 posts read per month
	// (docs.x.com/x-api/getting-started/about-x-api).
	xLimits = Limits{Scopes: []Scope{
		{Name: "users/me", Per: PerAccount, Limit: 75, Window: 15 * time.Minute, Cost: 1,
			Source: "docs.x.com rate limits, Pro: 75/15min per user"},
		{Name: "users/:id/tweets", Per: PerAccount, Limit: 900, Window: 15 * time.Minute, Cost: 1, PageCost: 1,
			Source: "docs.x.com rate limits, Pro: 900/15min per user"},
		{Name: "posts read/month", Per: PerApp, Limit: 1_000_000, Kind: Monthly, Cost: XPostsPerFetch,
			Unit: "posts", SkipPosts: true, Source: "docs.x.com about X API, Pro: 1M posts/month"},
	}, PostsPageSize: 100} // platforms/x: max_results
	// Facebook Pages (developers.facebook.com/docs/graph-api/overview/
	// rate-limiting): calls with a user token count against the app's
	// Platform limit, 200 × users per rolling hour (/me/accounts); calls
	// with a Page token against the Page's business-use-case limit, 4,800
	// × engaged users per rolling 24 hours (at least one engaged user: the
	// admin). A fetch: /me/accounts, the Page, one page of posts.
	facebookLimits = Limits{Scopes: []Scope{
		{Name: "app", Per: PerApp, PerUser: 200, Window: time.Hour, Cost: 3, PageCost: 1,
			Source: "Graph API rate limiting: 200 × users calls per hour"},
		{Name: "pages", Per: PerAccount, Limit: 4800, Window: 24 * time.Hour, Cost: 2, PageCost: 1,
			Source: "Graph API rate limiting, Pages BUC: 4800 × engaged users per 24h"},
	}, PostsPageSize: 25} // platforms/internal/meta.PageSize
	// Instagram Graph API through Facebook Login: the app's Platform limit
	// as above, and each Instagram account's 200 calls per hour (the
	// business-use-case limit is 4,800 × impressions a day, which Pulse
	// cannot know in advance; 200 an hour is the floor Meta documented
	// for the Instagram Graph API). A fetch: /me/accounts, the account,
	// one page of media.
	instagramLimits = Limits{Scopes: []Scope{
		{Name: "app", Per: PerApp, PerUser: 200, Window: time.Hour, Cost: 3, PageCost: 1,
			Source: "Graph API rate limiting: 200 × users calls per hour"},
		{Name: "instagram", Per: PerAccount, Limit: 200, Window: time.Hour, Cost: 3, PageCost: 1,
			Source: "Instagram Graph API: 200 calls per account per hour"},
	}, PostsPageSize: 25} // platforms/internal/meta.PageSize
	// LinkedIn (learn.microsoft.com/linkedin/shared/api-guide/concepts/
	// rate-limits): each endpoint has a daily limit per application and
	// per member, reset at midnight UTC, shown only in the app's Developer
	// Portal; 100,000 and 2,000 a day are of the order of a Community
	// Management Standard tier app's (and the simulator's defaults). A
	// fetch calls five endpoints once each with one page of posts.
	linkedinLimits = Limits{Scopes: linkedinScopes(100_000, 2000), PostsPageSize: linkedinPageSize}
)

// XPostsPerFetch is the posts an incremental X fetch is planned to read:
// what an account posts between two hourly fetches, rounded up.
const XPostsPerFetch = 1

// LinkedInEndpoints are the endpoints a LinkedIn fetch calls.
var LinkedInEndpoints = []string{"organizationAcls", "organizations", "networkSizes", "posts", "organizationalEntityShareStatistics"}

func linkedinScopes(app, member float64) []Scope {
	var out []Scope
	for _, e := range LinkedInEndpoints {
		page := 0.0
		if e == "posts" || e == "organizationalEntityShareStatistics" {
			page = 1
		}
		out = append(out,
			Scope{Name: e + " (app)", Per: PerApp, Limit: app, Window: 24 * time.Hour, Kind: Aligned, Cost: 1, PageCost: page,
				Source: "LinkedIn rate limits: per-application daily limit per endpoint, reset 00:00 UTC"},
			Scope{Name: e + " (member)", Per: PerAccount, Limit: member, Window: 24 * time.Hour, Kind: Aligned, Cost: 1, PageCost: page,
				Source: "LinkedIn rate limits: per-member daily limit per endpoint, reset 00:00 UTC"})
	}
	return out
}

// linkedinPageSize is platforms/linkedin.PageSize.
const linkedinPageSize = 50

// LinkedInLimits returns LinkedIn's limits for an app whose Developer
// Portal shows app and member calls a day per endpoint.
func LinkedInLimits(app, member float64) Limits {
	return Limits{Scopes: linkedinScopes(app, member), PostsPageSize: linkedinPageSize}
}

// DefaultLimits returns each platform's published limits (a fresh copy).
func DefaultLimits() map[topics.Platform]Limits {
	clone := func(l Limits) Limits { l.Scopes = append([]Scope(nil), l.Scopes...); return l }
	return map[topics.Platform]Limits{
		topics.X:         clone(xLimits),
		topics.Facebook:  clone(facebookLimits),
		topics.Instagram: clone(instagramLimits),
		topics.LinkedIn:  clone(linkedinLimits),
	}
}

// withDefaults validates l and fills in its defaults.
func (l Limits) withDefaults() (Limits, error) {
	if l.Headroom == 0 {
		l.Headroom = 0.02
	}
	if l.Headroom < 0 || l.Headroom >= 0.5 {
		return l, fmt.Errorf("headroom %v is not in [0, 0.5)", l.Headroom)
	}
	if l.Interval == 0 {
		l.Interval = time.Hour
	}
	if l.Interval < 0 {
		return l, fmt.Errorf("negative interval %v", l.Interval)
	}
	if l.PostsPageSize < 0 {
		return l, fmt.Errorf("negative posts page size %d", l.PostsPageSize)
	}
	if len(l.Scopes) == 0 {
		return l, errors.New("no scopes")
	}
	l.Scopes = append([]Scope(nil), l.Scopes...)
	seen := map[string]bool{}
	for i := range l.Scopes {
		s := &l.Scopes[i]
		if s.Kind == "" {
			s.Kind = Rolling
		}
		if s.Unit == "" {
			s.Unit = "calls"
		}
		switch {
		case s.Name == "" || seen[s.Name]:
			return l, fmt.Errorf("scope %d: empty or duplicate name %q", i, s.Name)
		case s.Per != PerApp && s.Per != PerAccount:
			return l, fmt.Errorf("scope %s: Per must be app or account", s.Name)
		case s.Kind != Rolling && s.Kind != Aligned && s.Kind != Monthly:
			return l, fmt.Errorf("scope %s: unknown window kind %q", s.Name, s.Kind)
		case s.Kind != Monthly && s.Window <= 0:
			return l, fmt.Errorf("scope %s: window must be positive", s.Name)
		case s.Per == PerAccount && s.Kind == Monthly:
			return l, fmt.Errorf("scope %s: monthly per-account limits are not supported", s.Name)
		case s.Limit < 0 || s.PerUser < 0 || s.Limit+s.PerUser <= 0:
			return l, fmt.Errorf("scope %s: limit must be positive", s.Name)
		case s.Cost <= 0 || s.PageCost < 0:
			return l, fmt.Errorf("scope %s: a fetch must cost something", s.Name)
		case s.SkipPosts && (s.Per != PerApp || s.PlanOnly):
			return l, fmt.Errorf("scope %s: a posts scope must be app-wide and spent", s.Name)
		case s.Per == PerAccount && s.PerUser != 0:
			return l, fmt.Errorf("scope %s: a per-account limit cannot grow with users", s.Name)
		case s.Cost > s.LimitFor(1)*(1-l.Headroom):
			return l, fmt.Errorf("scope %s: one fetch costs %v, more than the limit allows", s.Name, s.Cost)
		}
		seen[s.Name] = true
	}
	return l, nil
}

// window returns the scope's window length; Monthly: 30 days, for rates.
func (s Scope) window() time.Duration {
	if s.Kind == Monthly {
		return 30 * 24 * time.Hour
	}
	return s.Window
}

// windowStart returns the start of the aligned or monthly window holding t.
func (s Scope) windowStart(t time.Time) time.Time {
	t = t.UTC()
	if s.Kind == Monthly {
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return t.Truncate(s.Window)
}

// windowEnd returns the end of the window that starts at start.
func (s Scope) windowEnd(start time.Time) time.Time {
	if s.Kind == Monthly {
		return start.AddDate(0, 1, 0)
	}
	return start.Add(s.Window)
}

// spacing is the least time between two fetches of one account for a
// per-account scope: at most n = ⌊limit×(1−headroom)/cost⌋ fetches fit in a
// window, and fetches Window/n apart never put more than n in any span of
// Window, whether the platform's windows roll, open at the first call or
// are aligned.
func (s Scope) spacing(headroom float64) time.Duration {
	n := int(s.Limit * (1 - headroom) / s.Cost)
	return s.Window / time.Duration(max(n, 1))
}
