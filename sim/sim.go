// Package sim simulates the social platforms Pulse reads, for tests, demos
// and local development (`pulse sim`, `pulse dev`).
//
// A [Server] is an http.Handler serving, for each simulated platform, its
// OAuth pages and API under the prefix "/<platform>" (see [BaseURL]), plus
// an admin API under "/_sim/":
//
//	GET  /_sim/accounts  the synthetic accounts and their current counters
//	GET  /_sim/stats     request and limit-breach counts (see [Stats])
//	GET  /_sim/faults    the fault-injection settings per platform
//	POST /_sim/faults    replace them: {"x": {"server_error": {"next": 2}}}
//	POST /_sim/tokens    issue a token: {"platform": "x", "account_id": "1000001"}
//	POST /_sim/revoke    revoke a token: {"token": "..."}
//
// Everything a platform reports is synthetic and deterministic: an
// account's counters and posts are pure functions of [Config.Seed], the
// account and the time, so a test can ask the Server (e.g. [Server.Followers])
// for the exact value the API returns at the simulated clock. Rate limits,
// token expiry and code expiry follow [Config.Clock].
//
// Four platforms are simulated, each speaking its real API's paths, JSON
// shapes, OAuth flow, rate-limit headers and error bodies:
//
//   - X (x*.go): API v2 users/me and user timeline, OAuth 2.0 with PKCE
//     and rotating refresh tokens, x-rate-limit-* headers, 429s.
//   - Facebook (facebook.go, meta.go): Graph API Pages (me/accounts with
//     Page access tokens, the Page, its posts, its insights), logins that
//     share several Pages (IssueGrant, Consent.Also, Unshare), Facebook Login with
//     short-lived and fb_exchange_token long-lived tokens, X-App-Usage and
//     X-Business-Use-Case-Usage headers, Meta error codes.
//   - Instagram (instagram.go, meta.go): the Instagram Graph API for
//     professional accounts through Facebook Login (me/accounts with
//     instagram_business_account, the account, its media, its insights), with
//     Instagram's 200 calls per account per hour.
//   - LinkedIn (linkedin*.go): the versioned REST API for organization
//     pages (organizationAcls, organizations, networkSizes, posts,
//     organizationalEntityShareStatistics), OAuth 2.0 with 60-day access
//     and 365-day refresh tokens, daily app and member limits that reset
//     at midnight UTC, LinkedIn's error bodies.
//
// Insights (insights.go) are pure functions of the model too, consistent
// with the live counters ([Server.Insights]); metrics a Graph API version
// retired are answered with Meta's error ([MetaRetired],
// FacebookConfig.RetiredMetrics).
//
// Each platform lives in its own files behind the platformSim interface;
// the model, OAuth store, rate limiter, fault injection and stats are
// shared. Every consent page follows one convention, which [Authorize]
// relies on.
//
// A Server starts no goroutines and is safe for concurrent use.
package sim

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pulsehq/pulse/topics"
)

// Defaults and bounds of Config.
const (
	// DefaultAccounts is the number of synthetic accounts per platform.
	DefaultAccounts = 10
	// MaxAccounts bounds Config.Accounts (X handles have at most 15
	// characters, and the synthetic ones, at most 11 letters, end in the
	// account's number).
	MaxAccounts = 9999
	// DefaultWindow is the rate-limit window of a Limit without one.
	DefaultWindow = 15 * time.Minute
)

// Config configures a Server. The zero value is valid.
type Config struct {
	// Seed makes the synthetic data and the fault-injection randomness;
	// two Servers with the same Seed report the same data.
	Seed int64
	// Accounts is the number of synthetic accounts per platform, 1 to
	// MaxAccounts. Default DefaultAccounts.
	Accounts int
	// Clock is the simulated time. Default time.Now.
	Clock func() time.Time
	// X configures the X (Twitter) simulation.
	X XConfig
	// Facebook configures the Facebook Pages simulation.
	Facebook FacebookConfig
	// Instagram configures the Instagram (Graph API) simulation.
	Instagram InstagramConfig
	// LinkedIn configures the LinkedIn (organization pages) simulation.
	LinkedIn LinkedInConfig
}

// Limit is a rate limit: Requests per Window for each (app, user) pair.
type Limit struct {
	// Requests is the number of calls allowed per window; 0 means the
	// platform's default, a negative value no limit.
	Requests int
	// Window is the window's length. Default DefaultWindow.
	Window time.Duration
}

// Server is a simulated set of platforms. Create it with New; serve it with
// Handler.
type Server struct {
	seed      int64
	clock     func() time.Time
	platforms map[topics.Platform]*platformState
	order     []topics.Platform
	handler   http.Handler

	mu      sync.Mutex // guards the fields below and platformState's mutable fields
	codes   map[string]*authCode
	tokens  map[string]*grant
	sweepAt int // store size (codes + tokens) at which expired entries are swept next
	windows map[windowKey]*window
	stats   map[topics.Platform]*PlatformStats
	// meterers count their calls themselves; Stats adds them.
	meterers []*Meterer
}

// platformSim is one simulated platform: its identifiers and its HTTP
// surface. Implementations live in the platform's own files.
type platformSim interface {
	// platform names the platform; its routes live under "/" + platform.
	platform() topics.Platform
	// accountID returns the id of the i-th synthetic account, 0-based.
	accountID(i int) string
	// postID returns the id of a's post number k, created at created.
	postID(a *account, k int64, created time.Time) string
	// present adapts a model post of a to what the platform reports: its
	// text as the API returns it, and its permalink.
	present(a *account, p *Post)
	// fullScope is the scope of tokens made by IssueToken.
	fullScope() string
	// tokenTTL is the lifetime of tokens made by IssueToken.
	tokenTTL() time.Duration
	// accessToken returns the access token a request presents, or "".
	accessToken(r *http.Request) string
	// meters returns the rate limits a request to endpoint with grant g
	// counts against, broadest first.
	meters(endpoint string, g *grant) []meter
	// errorBody returns the platform's status and body for an API error
	// the simulator decides itself: http.StatusUnauthorized (invalid
	// token), StatusTooManyRequests (q's window is exhausted; q.limit is
	// -1 when the request is not metered), StatusServiceUnavailable or
	// StatusBadRequest (injected faults).
	errorBody(status int, q quota) (int, any)
	// setQuotaHeaders reports the request's quotas (at least one) in the
	// platform's rate-limit headers.
	setQuotaHeaders(h http.Header, now time.Time, qs []quota)
	// routes registers the platform's handlers on mux; every pattern
	// starts with prefix.
	routes(mux *http.ServeMux, prefix string)
}

// platformState is a platform's accounts and settings. accounts, byID and
// clients are immutable after New; faults and rng are guarded by
// Server.mu.
type platformState struct {
	impl     platformSim
	accounts []*account
	byID     map[string]*account
	clients  map[string]string // nil: any client id is accepted

	faults Faults
	rng    *rand.Rand
}

// post returns a's post number k with its engagement at t, as the platform
// reports it.
func (ps *platformState) post(a *account, k int64, t time.Time) Post {
	p := a.post(k, ps.impl.postID(a, k, a.postTime(k)), t)
	ps.impl.present(a, &p)
	return p
}

// New returns a Server for cfg, or an error when cfg is invalid.
func New(cfg Config) (*Server, error) {
	if cfg.Accounts == 0 {
		cfg.Accounts = DefaultAccounts
	}
	if cfg.Accounts < 1 || cfg.Accounts > MaxAccounts {
		return nil, fmt.Errorf("sim: new: Accounts %d is not in 1..%d", cfg.Accounts, MaxAccounts)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	s := &Server{
		seed:      cfg.Seed,
		clock:     cfg.Clock,
		platforms: map[topics.Platform]*platformState{},
		codes:     map[string]*authCode{},
		tokens:    map[string]*grant{},
		sweepAt:   sweepMin,
		windows:   map[windowKey]*window{},
		stats:     map[topics.Platform]*PlatformStats{},
	}
	x, err := newXSim(s, cfg.X)
	if err != nil {
		return nil, fmt.Errorf("sim: new: X: %w", err)
	}
	if err := s.add(x, cfg.Accounts, cfg.X.Clients, cfg.X.Faults); err != nil {
		return nil, fmt.Errorf("sim: new: X: %w", err)
	}
	fb, err := newFacebookSim(s, cfg.Facebook, cfg.Accounts)
	if err != nil {
		return nil, fmt.Errorf("sim: new: Facebook: %w", err)
	}
	if err := s.add(fb, cfg.Accounts, cfg.Facebook.Clients, cfg.Facebook.Faults); err != nil {
		return nil, fmt.Errorf("sim: new: Facebook: %w", err)
	}
	ig, err := newInstagramSim(s, cfg.Instagram, cfg.Accounts)
	if err != nil {
		return nil, fmt.Errorf("sim: new: Instagram: %w", err)
	}
	if err := s.add(ig, cfg.Accounts, cfg.Instagram.Clients, cfg.Instagram.Faults); err != nil {
		return nil, fmt.Errorf("sim: new: Instagram: %w", err)
	}
	li, err := newLinkedInSim(s, cfg.LinkedIn)
	if err != nil {
		return nil, fmt.Errorf("sim: new: LinkedIn: %w", err)
	}
	if err := s.add(li, cfg.Accounts, cfg.LinkedIn.Clients, cfg.LinkedIn.Faults); err != nil {
		return nil, fmt.Errorf("sim: new: LinkedIn: %w", err)
	}

	mux := http.NewServeMux()
	for _, p := range s.order {
		s.platforms[p].impl.routes(mux, "/"+string(p))
	}
	s.adminRoutes(mux)
	s.handler = mux
	return s, nil
}

// add registers a platform with its synthetic accounts.
func (s *Server) add(impl platformSim, n int, clients map[string]string, faults Faults) error {
	p := impl.platform()
	if err := faults.validate(); err != nil {
		return fmt.Errorf("sim config: Faults: %w", err)
	}
	for id := range clients {
		if id == "" {
			return errors.New("sim config: Clients: empty client id")
		}
	}
	ps := &platformState{
		impl:    impl,
		byID:    make(map[string]*account, n),
		clients: maps.Clone(clients),
		faults:  faults,
		rng:     rand.New(rand.NewPCG(uint64(s.seed), strHash(string(p)))),
	}
	for i := range n {
		a := newAccount(s.seed, p, i, impl.accountID(i))
		ps.accounts = append(ps.accounts, a)
		ps.byID[a.ID] = a
	}
	s.platforms[p] = ps
	s.order = append(s.order, p)
	slices.Sort(s.order)
	s.stats[p] = newPlatformStats()
	return nil
}

// Handler returns the Server's HTTP handler: each platform under
// "/<platform>/" and the admin API under "/_sim/".
func (s *Server) Handler() http.Handler { return s.handler }

// BaseURL returns the root URL of platform p on a Server served at
// serverURL (e.g. an httptest.Server's URL). Use it as both
// platforms.Config.BaseURL and AuthBaseURL.
func BaseURL(serverURL string, p topics.Platform) string {
	return strings.TrimRight(serverURL, "/") + "/" + string(p)
}

// Platforms returns the simulated platforms, sorted.
func (s *Server) Platforms() []topics.Platform { return slices.Clone(s.order) }

// now returns the simulated time in UTC.
func (s *Server) now() time.Time { return s.clock().UTC() }

// state returns p's state, or an error naming p when it is not simulated.
func (s *Server) state(p topics.Platform) (*platformState, error) {
	ps, ok := s.platforms[p]
	if !ok {
		return nil, fmt.Errorf("sim: platform %q is not simulated", p)
	}
	return ps, nil
}

// lookup returns p's state and its account id.
func (s *Server) lookup(p topics.Platform, id string) (*platformState, *account, error) {
	ps, err := s.state(p)
	if err != nil {
		return nil, nil, err
	}
	a, ok := ps.byID[id]
	if !ok {
		return nil, nil, fmt.Errorf("sim: %s: unknown account %q", p, id)
	}
	return ps, a, nil
}
