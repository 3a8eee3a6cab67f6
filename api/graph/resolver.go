// Package graph holds the gqlgen schema, its generated executor and the
// resolvers. Resolvers read the signed-in user from the context (set by the
// api package's middleware) and scope every store call to that user.
package graph

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/pulsehq/pulse"
	"github.com/pulsehq/pulse/topics"
)

// Links is the part of the link store resolvers use. *postgres.DB
// implements it.
type Links interface {
	Links(ctx context.Context, userID string) ([]pulse.Link, error)
	RequestRefresh(ctx context.Context, userID, linkID string) (int, error)
	DeleteLink(ctx context.Context, userID, linkID string) error
	LinkGrant(ctx context.Context, userID, grantID string) (pulse.LinkGrant, error)
	RedeemLinkGrant(ctx context.Context, userID, grantID string, accountIDs []string) ([]pulse.Link, error)
	StartRefresh(ctx context.Context, userID, linkID string) ([]pulse.RefreshJob, error)
	RefreshJobs(ctx context.Context, userID string) ([]pulse.RefreshJob, error)
	JobsVisible(ctx context.Context, userID string, observed map[string]time.Time) error
}

// Actions are the mutations that need more than the stores: connectors,
// the session, the sign-in throttle and the analytics purge. The api
// package's *Server implements it. Errors meant for the user are *Error.
type Actions interface {
	// Linkable reports whether accounts on p can be linked.
	Linkable(p topics.Platform) bool
	// HistoryDays is how many past days linking an account on p reads; 0
	// when p serves no history.
	HistoryDays(p topics.Platform) int
	// StartLink begins linking an account on p for u and returns the
	// platform's authorize URL.
	StartLink(ctx context.Context, u SessionUser, p topics.Platform) (string, error)
	// DeleteAccount deletes u, and everything u owns, after checking
	// password.
	DeleteAccount(ctx context.Context, u SessionUser, password string) error
}

// Metrics is the analytics store. *clickhouse.DB implements it.
type Metrics interface {
	Series(ctx context.Context, q pulse.SeriesQuery) ([]pulse.Point, error)
	Feed(ctx context.Context, q pulse.FeedQuery) ([]pulse.PostRow, error)
	PostHistory(ctx context.Context, q pulse.PostHistoryQuery) ([]pulse.PostPoint, error)
	Trends(ctx context.Context, q pulse.TrendQuery) ([]pulse.Trend, error)
	LastObserved(ctx context.Context, userID string, since time.Time) (map[string]time.Time, error)
}

// Capacity is the scheduler's capacity plan against the accounts linked
// now, for operators.
type Capacity interface {
	CapacityPlan(ctx context.Context) ([]*PlatformCapacity, error)
}

// Resolver is the root resolver.
type Resolver struct {
	// Capacity backs capacityPlan, for the users in Operators (emails).
	// Without it the query fails.
	Capacity  Capacity
	Operators map[string]bool
	LinkStore Links
	Analytics Metrics
	// Actions backs startLink and deleteAccount. Without it they fail and
	// no platform is linkable.
	Actions Actions
	// Platforms lists the platforms offered for linking, in display order.
	// Default: all of Facebook, Instagram, X, LinkedIn.
	Platforms []topics.Platform
	// Now serves the summary query and subscription. Without it they fail
	// with UNAVAILABLE.
	Now Now
	// SessionCheckInterval is how often a subscription runs the session
	// check in its context (WithSessionCheck), ending when it fails.
	// Default 30 seconds.
	SessionCheckInterval time.Duration
	// MaxSubscriptionsPerUser caps each user's concurrent subscriptions in
	// this process; one more fails with THROTTLED. 0 means no cap.
	MaxSubscriptionsPerUser int

	subsMu sync.Mutex
	subs   map[string]int // open subscriptions by user ID

	pressMu sync.Mutex
	presses map[string]map[chan struct{}]struct{} // user ID → subscribers' signals
}

// NotifyPress tells userID's subscriptions in this process that a refresh
// was pressed (startRefresh calls it; so must other ways of pressing, such
// as the REST form), so they push the new jobs at once.
func (r *Resolver) NotifyPress(userID string) {
	r.pressMu.Lock()
	defer r.pressMu.Unlock()
	for c := range r.presses[userID] {
		select {
		case c <- struct{}{}:
		default: // one pending signal is enough
		}
	}
}

// watchPresses returns a channel signalled by NotifyPress for userID, and
// the function that stops it.
func (r *Resolver) watchPresses(userID string) (<-chan struct{}, func()) {
	c := make(chan struct{}, 1)
	r.pressMu.Lock()
	defer r.pressMu.Unlock()
	if r.presses == nil {
		r.presses = map[string]map[chan struct{}]struct{}{}
	}
	if r.presses[userID] == nil {
		r.presses[userID] = map[chan struct{}]struct{}{}
	}
	r.presses[userID][c] = struct{}{}
	return c, func() {
		r.pressMu.Lock()
		defer r.pressMu.Unlock()
		delete(r.presses[userID], c)
		if len(r.presses[userID]) == 0 {
			delete(r.presses, userID)
		}
	}
}

// acquireSubscription counts a new subscription of userID, or fails if the
// user has MaxSubscriptionsPerUser open. release undoes it.
func (r *Resolver) acquireSubscription(userID string) (release func(), err error) {
	r.subsMu.Lock()
	defer r.subsMu.Unlock()
	if r.MaxSubscriptionsPerUser > 0 && r.subs[userID] >= r.MaxSubscriptionsPerUser {
		return nil, &Error{Code: CodeThrottled, Message: fmt.Sprintf(
			"too many live subscriptions (at most %d per user); close one first", r.MaxSubscriptionsPerUser)}
	}
	if r.subs == nil {
		r.subs = map[string]int{}
	}
	r.subs[userID]++
	var once sync.Once
	return func() {
		once.Do(func() {
			r.subsMu.Lock()
			defer r.subsMu.Unlock()
			if r.subs[userID]--; r.subs[userID] <= 0 {
				delete(r.subs, userID)
			}
		})
	}, nil
}

// Now serves each user's latest aggregate. *aggregator.View implements it.
type Now interface {
	// Get returns the user's aggregate; it fails while the view is
	// loading.
	Get(userID string) (*topics.UserAggregate, error)
	// Subscribe returns a channel receiving the user's aggregate after
	// every change, and a function ending the subscription.
	Subscribe(userID string) (<-chan *topics.UserAggregate, func())
}

// SessionUser is the signed-in user as resolvers see it.
type SessionUser struct {
	ID        string
	Email     string
	CreatedAt time.Time
	// SessionID identifies the session (pulse.Session.ID).
	SessionID string
	// Cookie reports that the session cookie authenticated the request (a
	// browser), rather than a bearer token.
	Cookie bool
}

type userKey struct{}

type sessionCheckKey struct{}

// SessionCheck reports whether the request's session is still valid; an
// error means it could not tell (the session is then kept).
type SessionCheck func(ctx context.Context) (valid bool, err error)

// WithSessionCheck returns ctx carrying the check subscriptions repeat.
func WithSessionCheck(ctx context.Context, check SessionCheck) context.Context {
	return context.WithValue(ctx, sessionCheckKey{}, check)
}

// watchSession returns a channel closed once the session in ctx is no
// longer valid, checked every SessionCheckInterval until ctx ends. Without
// a check in ctx, the channel is never closed.
func (r *Resolver) watchSession(ctx context.Context) <-chan struct{} {
	ended := make(chan struct{})
	check, _ := ctx.Value(sessionCheckKey{}).(SessionCheck)
	if check == nil {
		return ended
	}
	every := r.SessionCheckInterval
	if every <= 0 {
		every = 30 * time.Second
	}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if ok, err := check(ctx); err == nil && !ok {
					close(ended)
					return
				}
			}
		}
	}()
	return ended
}

// WithUser returns ctx carrying the signed-in user.
func WithUser(ctx context.Context, u SessionUser) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the signed-in user, if any.
func UserFrom(ctx context.Context) (SessionUser, bool) {
	u, ok := ctx.Value(userKey{}).(SessionUser)
	return u, ok
}

// Error codes in GraphQL errors' extensions.code.
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeNotFound        = "NOT_FOUND"
	CodeBadInput        = "BAD_USER_INPUT"
	CodeConflict        = "CONFLICT"
	CodeUnavailable     = "UNAVAILABLE"
	CodeForbidden       = "FORBIDDEN"
	CodeThrottled       = "THROTTLED"
	CodeInternal        = "INTERNAL"
)

// Error is an error with a GraphQL code, safe to show to the user.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func errUnauthenticated() error {
	return &Error{Code: CodeUnauthenticated, Message: "sign in required"}
}

func badInput(format string, args ...any) error {
	return &Error{Code: CodeBadInput, Message: fmt.Sprintf(format, args...)}
}

func requireUser(ctx context.Context) (SessionUser, error) {
	u, ok := UserFrom(ctx)
	if !ok {
		return SessionUser{}, errUnauthenticated()
	}
	return u, nil
}

// PresentError maps errors to GraphQL errors with a code. Store errors are
// mapped by their codes; anything unknown is logged and shown as INTERNAL
// without details.
func PresentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		var e *Error
		switch {
		case errors.As(err, &e):
			gerr.Message = e.Message
			setCode(gerr, e.Code)
		case pulse.ErrorCode(err) == pulse.ENOTFOUND:
			gerr.Message = "not found"
			setCode(gerr, CodeNotFound)
		case pulse.ErrorCode(err) == pulse.EINVALID:
			gerr.Message = pulse.ErrorMessage(err)
			setCode(gerr, CodeBadInput)
		case pulse.ErrorCode(err) == pulse.EUNAUTHORIZED:
			gerr.Message = "sign in required"
			setCode(gerr, CodeUnauthenticated)
		case pulse.ErrorCode(err) == pulse.ECONFLICT:
			gerr.Message = pulse.ErrorMessage(err)
			setCode(gerr, CodeConflict)
		case pulse.ErrorCode(err) == pulse.ETHROTTLED:
			gerr.Message = pulse.ErrorMessage(err)
			setCode(gerr, CodeThrottled)
		default:
			var ge *gqlerror.Error
			if errors.As(err, &ge) && ge.Extensions["code"] != nil {
				return gerr // parse and validation errors carry their own code
			}
			if errors.As(err, &ge) && ge.Err == nil {
				return gerr
			}
			log.Error("graphql: internal error", "path", gerr.Path.String(), "err", err)
			gerr.Message = "internal error"
			setCode(gerr, CodeInternal)
		}
		return gerr
	}
}

func setCode(e *gqlerror.Error, code string) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions["code"] = code
}

// Recover turns a resolver panic into an INTERNAL error and logs the stack.
func Recover(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.Error("graphql: panic", "panic", p, "stack", string(debug.Stack()))
		return &Error{Code: CodeInternal, Message: "internal error"}
	}
}

func toPlatform(p topics.Platform) Platform { return Platform(strings.ToUpper(string(p))) }

// PlatformOf returns the GraphQL enum value of p.
func PlatformOf(p topics.Platform) Platform { return toPlatform(p) }

func fromPlatform(p Platform) topics.Platform { return topics.Platform(strings.ToLower(string(p))) }

func platformFilter(ps []Platform) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if !p.IsValid() {
			continue
		}
		out = append(out, string(fromPlatform(p)))
	}
	return out
}

// linkedAccount presents a link.
func linkedAccount(l pulse.Link) *LinkedAccount {
	return &LinkedAccount{
		ID: l.ID, Platform: toPlatform(l.Platform), AccountID: l.AccountID, Handle: l.Handle, Status: toLinkStatus(l.Status),
		StatusReason: strPtr(l.StatusReason), LinkedAt: l.CreatedAt,
		LastFetchedAt: timePtr(l.LastFetchedAt), NextFetchAt: timePtr(l.NextFetchAt),
	}
}

func toLinkStatus(s pulse.LinkStatus) LinkStatus {
	switch s {
	case pulse.LinkActive:
		return LinkStatusActive
	case pulse.LinkNeedsReauth:
		return LinkStatusNeedsReauth
	case pulse.LinkRevoked:
		return LinkStatusRevoked
	}
	return LinkStatusNotLinked
}

// maxHourlySpan bounds hourly queries (744 points per account).
const maxHourlySpan = 31 * 24 * time.Hour

// seriesRange validates the grain and range of a series query (what names
// it in the error: "metrics", "trends") and returns the domain's grain: a
// known grain, to after from, and at most maxHourlySpan at hour grain.
func seriesRange(what string, grain Grain, from, to time.Time) (pulse.Grain, error) {
	g, ok := grains[grain]
	if !ok {
		return "", badInput("unknown grain %q", grain)
	}
	if !to.After(from) {
		return "", badInput("to must be after from")
	}
	if grain == GrainHour && to.Sub(from) > maxHourlySpan {
		return "", badInput("hourly %s are limited to 31 days per query; use DAY or a shorter range", what)
	}
	return g, nil
}

var grains = map[Grain]pulse.Grain{
	GrainHour: pulse.GrainHour, GrainDay: pulse.GrainDay, GrainMonth: pulse.GrainMonth, GrainYear: pulse.GrainYear,
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func errUnavailable(what string) error {
	return &Error{Code: CodeUnavailable, Message: what + " is not available yet; try again shortly"}
}

// toSummary converts an aggregate, keeping the accounts of platforms (all
// when empty).
func toSummary(agg *topics.UserAggregate, platforms []Platform) *Summary {
	keep := map[string]bool{}
	for _, p := range platformFilter(platforms) {
		keep[p] = true
	}
	out := &Summary{Accounts: []*AccountSummary{}, RefreshJobs: []*RefreshJob{}}
	if !agg.UpdatedAt.IsZero() {
		t := agg.UpdatedAt
		out.UpdatedAt = &t
	}
	for _, a := range agg.Accounts {
		if len(keep) > 0 && !keep[string(a.Platform)] {
			continue
		}
		out.Accounts = append(out.Accounts, &AccountSummary{
			LinkID: a.LinkID, Platform: toPlatform(a.Platform), AccountID: a.AccountID, Handle: a.Handle,
			Followers: a.Followers, Following: a.Following, PostsCount: a.PostsCount,
			Delta24h: a.Delta24h, Delta7d: a.Delta7d, Delta30d: a.Delta30d,
			EngagementRate: a.EngagementRate, Posts30d: int64(a.Posts30d), ObservedAt: a.ObservedAt,
		})
	}
	return out
}

var trendMetrics = map[TrendMetric]pulse.Metric{
	TrendMetricFollowers: pulse.MetricFollowers, TrendMetricFollowing: pulse.MetricFollowing,
	TrendMetricPostsCount: pulse.MetricPostsCount, TrendMetricPostsPublished: pulse.MetricPostsPublished,
	TrendMetricLikesGained: pulse.MetricLikesGained, TrendMetricCommentsGained: pulse.MetricCommentsGained,
}

func toTrendPoint(p pulse.TrendPoint) *TrendPoint {
	out := &TrendPoint{At: p.Bucket, Value: p.Value, MovingAverage: p.MovingAvg, Fit: p.Fit,
		Followers: p.Followers, Gained: p.Gained, EngagementRate: p.EngagementRate}
	if p.HasChange {
		c := p.Change
		out.Change = &c
	}
	return out
}

func toTrendPoints(ps []pulse.TrendPoint) []*TrendPoint {
	out := make([]*TrendPoint, 0, len(ps))
	for _, p := range ps {
		out = append(out, toTrendPoint(p))
	}
	return out
}

// toTrend converts a store trend; the change against the previous period
// is derived here from the two values ClickHouse computed.
func toTrend(t pulse.Trend, m TrendMetric) *Trend {
	out := &Trend{Metric: m, Value: t.Value, SlopePerDay: t.SlopePerDay, Intercept: t.Intercept, R2: t.R2,
		Points: toTrendPoints(t.Points), Previous: toTrendPoints(t.Previous)}
	if t.Platform != "" {
		p := toPlatform(topics.Platform(t.Platform))
		out.Platform = &p
	}
	if t.HasPrevious {
		prev, change := t.PreviousValue, t.Value-t.PreviousValue
		out.PreviousValue, out.Change = &prev, &change
		if prev != 0 {
			pct := float64(change) / float64(prev) * 100
			out.ChangePercent = &pct
		}
	}
	if t.Best >= 0 {
		out.Best = out.Points[t.Best]
	}
	if t.Worst >= 0 {
		out.Worst = out.Points[t.Worst]
	}
	return out
}

// jobPoll is how often the refreshJobs subscription looks for changes
// while a job is unfinished.
const jobPoll = time.Second

// refreshJobs returns the user's jobs, first marking visible the processed
// ones whose observation ClickHouse now has.
func (r *Resolver) refreshJobs(ctx context.Context, userID string) ([]pulse.RefreshJob, error) {
	jobs, err := r.LinkStore.RefreshJobs(ctx, userID)
	if err != nil {
		return nil, err
	}
	var since time.Time
	for _, j := range jobs {
		var at time.Time
		switch j.State {
		case pulse.JobProcessed, pulse.JobFetching:
			at = j.FetchingAt
		case pulse.JobQueued, pulse.JobDeferred:
			at = j.CreatedAt
		default:
			continue
		}
		if since.IsZero() || at.Before(since) {
			since = at
		}
	}
	if since.IsZero() {
		return jobs, nil
	}
	observed, err := r.Analytics.LastObserved(ctx, userID, since)
	if err != nil {
		return nil, err
	}
	if err := r.LinkStore.JobsVisible(ctx, userID, observed); err != nil {
		return nil, err
	}
	return r.LinkStore.RefreshJobs(ctx, userID)
}

func unfinished(jobs []pulse.RefreshJob) bool {
	for _, j := range jobs {
		if !j.Finished() {
			return true
		}
	}
	return false
}

func jobsKey(jobs []pulse.RefreshJob) string {
	var b strings.Builder
	for _, j := range jobs {
		fmt.Fprintf(&b, "%s:%s:%s:%d;", j.ID, j.State, j.Reason, j.RunAt.Unix())
	}
	return b.String()
}

var jobStates = map[pulse.JobState]RefreshJobState{
	pulse.JobQueued: RefreshJobStateQueued, pulse.JobFetching: RefreshJobStateFetching,
	pulse.JobProcessed: RefreshJobStateProcessed, pulse.JobVisible: RefreshJobStateVisible,
	pulse.JobDeferred: RefreshJobStateDeferred, pulse.JobFailed: RefreshJobStateFailed,
}

func toJobs(jobs []pulse.RefreshJob) []*RefreshJob {
	out := make([]*RefreshJob, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, &RefreshJob{ID: j.ID, LinkID: j.LinkID, State: jobStates[j.State], Reason: strPtr(j.Reason),
			RunAt: timePtr(j.RunAt), CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt})
	}
	return out
}

var postRanks = map[PostRank]pulse.PostRank{
	PostRankLikes: pulse.RankLikes, PostRankComments: pulse.RankComments, PostRankShares: pulse.RankShares,
	PostRankViews: pulse.RankViews, PostRankEngagement: pulse.RankEngagement,
}

const (
	maxPostHistory = 366 * 24 * time.Hour
	maxPostID      = 256
	maxPage        = 100
)

// pageSize checks first (1 to maxPage; nil: def).
func pageSize(first *int64, def int) (int, error) {
	if first == nil {
		return def, nil
	}
	if *first < 1 || *first > maxPage {
		return 0, badInput("first must be between 1 and %d", maxPage)
	}
	return int(*first), nil
}

func toPost(p pulse.PostRow) *Post {
	return &Post{
		ID: p.PostID, Platform: toPlatform(topics.Platform(p.Platform)), AccountID: p.AccountID,
		CreatedAt: p.CreatedAt, Text: p.Text, Permalink: p.Permalink, Likes: p.Likes,
		Comments: p.Comments, Shares: p.Shares, Views: p.Views, Reach: p.Reach, Saves: p.Saves,
	}
}

// cursorVersion prefixes every feed cursor, so a change of format fails
// old cursors clearly.
const cursorVersion = "p1"

// encodeCursor is the opaque cursor of the feed's post p: its place in
// the feed's order (creation second, platform, post id), base64url.
func encodeCursor(p pulse.PostRow) string {
	raw := cursorVersion + "|" + strconv.FormatInt(p.CreatedAt.Unix(), 10) + "|" + p.Platform + "|" + p.PostID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor reads a cursor encodeCursor made; anything else is
// BAD_INPUT.
func decodeCursor(c string) (pulse.PostKey, error) {
	bad := badInput("after is not a cursor of this feed")
	if len(c) > 512 {
		return pulse.PostKey{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return pulse.PostKey{}, bad
	}
	parts := strings.SplitN(string(raw), "|", 4)
	if len(parts) != 4 || parts[0] != cursorVersion || parts[3] == "" || len(parts[3]) > maxPostID {
		return pulse.PostKey{}, bad
	}
	sec, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || sec < 0 {
		return pulse.PostKey{}, bad
	}
	if !slices.Contains([]topics.Platform{topics.Facebook, topics.Instagram, topics.X, topics.LinkedIn}, topics.Platform(parts[2])) {
		return pulse.PostKey{}, bad
	}
	return pulse.PostKey{CreatedAt: time.Unix(sec, 0).UTC(), Platform: parts[2], PostID: parts[3]}, nil
}

// wantsJobs reports whether the summary asked for includes refreshJobs.
func wantsJobs(ctx context.Context) bool {
	return slices.Contains(graphql.CollectAllFields(ctx), "refreshJobs")
}
