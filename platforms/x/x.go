// Package x is Pulse's connector for the X (formerly Twitter) API v2.
//
// It registers itself with the platforms registry for [topics.X]; import it
// for its side effect, or call [New] directly:
//
//	import _ "github.com/pulsehq/pulse/platforms/x"
//
// Authorization uses OAuth 2.0 Authorization Code with PKCE (S256) and the
// scopes "tweet.read users.read offline.access". A fetch reads the
// authenticated user (GET /2/users/me) and then its timeline
// (GET /2/users/:id/tweets), returning the raw bodies for the pipeline to
// store and parse with [Connector.ParseAccount] and [Connector.ParsePosts].
package x

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
	"github.com/pulsehq/pulse/topics"
)

func init() { platforms.Register(topics.X, New) }

// Defaults for the fields of platforms.Config left empty.
const (
	// DefaultBaseURL is the root of the X API; the token endpoint is
	// DefaultBaseURL + "/2/oauth2/token".
	DefaultBaseURL = "https://api.x.com"
	// DefaultAuthBaseURL is the root of the consent page; the authorize
	// endpoint is DefaultAuthBaseURL + "/i/oauth2/authorize".
	DefaultAuthBaseURL = "https://x.com"
	// DefaultMaxPostPages is the number of timeline pages read per fetch
	// when platforms.Config.MaxPostPages is zero.
	DefaultMaxPostPages = 5
	// DefaultHTTPTimeout is the timeout of the HTTP client used when
	// platforms.Config.HTTPClient is nil.
	DefaultHTTPTimeout = 30 * time.Second
)

const (
	authorizePath = "/i/oauth2/authorize"
	tokenPath     = "/2/oauth2/token"
	usersMePath   = "/2/users/me"

	// pageSize is the max_results of each timeline request (X's maximum).
	pageSize = 100

	maxAttempts    = 3
	defaultBackoff = 200 * time.Millisecond
	// throttleFallback is the retry delay after a 429 without a reset header:
	// X's rate-limit window.
	throttleFallback = 15 * time.Minute
	// maxBodyBytes bounds a response body; X pages are tens of kilobytes.
	maxBodyBytes = 16 << 20
)

// Scope is the space-separated list of OAuth scopes Pulse asks for: reading
// the user and its posts, and a refresh token (offline.access).
const Scope = "tweet.read users.read offline.access"

// Connector is the X implementation of [platforms.Connector]. It is safe for
// concurrent use; its fields are set once by [New].
type Connector struct {
	baseURL      string
	authBaseURL  string
	clientID     string
	clientSecret string
	redirectURL  string
	client       *http.Client
	maxPages     int

	// backoff is the base delay between attempts of a transient failure;
	// attempt n waits about backoff*2^(n-1), with jitter.
	backoff time.Duration
	// now is the clock used for Throttled.RetryAfter when X sends no reset.
	now func() time.Time
}

var _ platforms.Connector = (*Connector)(nil)

// New returns an X connector for cfg. Empty fields take the defaults
// documented on platforms.Config and the Default constants above: BaseURL
// DefaultBaseURL, AuthBaseURL DefaultAuthBaseURL, HTTPClient a client with a
// DefaultHTTPTimeout timeout, MaxPostPages DefaultMaxPostPages.
//
// ClientID is needed by Exchange and Refresh only, so New accepts an empty
// one (a parse-only connector). ClientSecret is empty for a public client:
// the client id is then sent in the token request's body, else the
// credentials go in a Basic Authorization header, as X requires.
//
// New fails when a URL is not absolute http(s) or MaxPostPages is negative.
func New(cfg platforms.Config) (platforms.Connector, error) {
	s, err := httpx.Configure(cfg, httpx.Defaults{
		BaseURL:     DefaultBaseURL,
		AuthBaseURL: DefaultAuthBaseURL,
		MaxPages:    DefaultMaxPostPages,
		HTTPTimeout: DefaultHTTPTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("x: new connector: %w", err)
	}
	return &Connector{
		baseURL:      s.BaseURL,
		authBaseURL:  s.AuthBaseURL,
		clientID:     cfg.ClientID,
		clientSecret: cfg.ClientSecret,
		redirectURL:  cfg.RedirectURL,
		client:       s.HTTP,
		maxPages:     s.MaxPages,
		backoff:      defaultBackoff,
		now:          time.Now,
	}, nil
}

// Platform returns topics.X.
func (c *Connector) Platform() topics.Platform { return topics.X }

// UsesPKCE reports true: X requires PKCE on the authorization code flow.
func (c *Connector) UsesPKCE() bool { return true }

// OAuth2 returns a new copy of the OAuth 2.0 configuration: the authorize
// and token endpoints (derived from AuthBaseURL and BaseURL), the app's
// credentials, redirect URL and scopes. Callers may modify the copy.
func (c *Connector) OAuth2() *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if c.clientSecret == "" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID:     c.clientID,
		ClientSecret: c.clientSecret,
		RedirectURL:  c.redirectURL,
		Scopes:       strings.Fields(Scope),
		Endpoint: oauth2.Endpoint{
			AuthURL:   c.authBaseURL + authorizePath,
			TokenURL:  c.baseURL + tokenPath,
			AuthStyle: style,
		},
	}
}

// errNoClientID is returned by Exchange and Refresh on a parse-only
// connector.
var errNoClientID = errors.New("no client id configured")
