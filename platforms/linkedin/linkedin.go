// Package linkedin is Pulse's connector for LinkedIn organization pages
// (company pages), through LinkedIn's versioned REST API (Community
// Management API), version pinned to [APIVersion].
//
// It registers itself with the platforms registry for [topics.LinkedIn];
// import it for its side effect, or call [New] directly:
//
//	import _ "github.com/pulsehq/pulse/platforms/linkedin"
//
// Pulse links the page a LinkedIn member administers, for its analytics.
// Authorization is LinkedIn's OAuth 2.0 authorization code flow (3-legged
// OAuth) with the scopes [Scope]. LinkedIn offers PKCE to native apps only:
// a web app relies on the state parameter and its client secret
// ([Connector.UsesPKCE] is false). Access tokens live 60 days. Apps
// approved for programmatic refresh tokens (Marketing Developer Platform
// and Community Management partners) also get a refresh token that lives
// 365 days from the authorization; refreshing renews the access token but
// never the refresh token, so the member must authorize again within a
// year.
//
// A fetch finds the page with GET /rest/organizationAcls (the member's
// approved ADMINISTRATOR roles), reads it (GET /rest/organizations/{id})
// and its follower count (GET /rest/networkSizes/{urn}), then its posts
// (GET /rest/posts, author finder) with each page's lifetime engagement
// (GET /rest/organizationalEntityShareStatistics for the page's posts). The
// raw bodies are kept, a few per envelope (see [Connector.ParseAccount] and
// [Connector.ParsePosts]), for the pipeline to store and parse.
//
// LinkedIn meters each endpoint per app and per member per day, resetting
// at midnight UTC, and reports no usage in its responses: a throttled call
// (HTTP 429) is retried at the next midnight UTC.
package linkedin

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

func init() { platforms.Register(topics.LinkedIn, New) }

// Defaults for the fields of platforms.Config left empty, and the API's
// fixed values.
const (
	// DefaultBaseURL is the REST API's root.
	DefaultBaseURL = "https://api.linkedin.com"
	// DefaultAuthBaseURL is the root of LinkedIn's OAuth endpoints: the
	// authorization page is DefaultAuthBaseURL + "/oauth/v2/authorization"
	// and, unlike the other platforms, the token endpoint is on it too:
	// DefaultAuthBaseURL + "/oauth/v2/accessToken".
	DefaultAuthBaseURL = "https://www.linkedin.com"
	// DefaultMaxPostPages is the number of pages of posts (PageSize each)
	// read per fetch when platforms.Config.MaxPostPages is zero.
	DefaultMaxPostPages = 5
	// DefaultHTTPTimeout is the timeout of the HTTP client used when
	// platforms.Config.HTTPClient is nil.
	DefaultHTTPTimeout = 30 * time.Second

	// APIVersion is the pinned LinkedIn-Version (YYYYMM) sent with every
	// API call. LinkedIn supports a version for about a year after its
	// release (202607: until mid-July 2027) and then answers HTTP 426,
	// which Fetch reports as Permanent: move the pin before then.
	APIVersion = "202607"
	// RestliProtocolVersion is the X-Restli-Protocol-Version sent with
	// every API call; Rest.li 2.0 is what the List(…) syntax of batch
	// parameters needs.
	RestliProtocolVersion = "2.0.0"
	// PageSize is the count of each posts request.
	PageSize = 50

	// Scope is the space-separated list of scopes Pulse asks for: the
	// organization's posts and their social actions, the organization and
	// its share statistics (which need an ADMINISTRATOR role), and its
	// followers.
	Scope = "r_organization_social rw_organization_admin r_organization_followers"
)

const (
	authorizePath = "/oauth/v2/authorization"
	tokenPath     = "/oauth/v2/accessToken"

	maxAttempts    = 3
	defaultBackoff = 200 * time.Millisecond
	// maxBodyBytes bounds a response body; LinkedIn pages are tens of
	// kilobytes.
	maxBodyBytes = 16 << 20
)

// Connector is the LinkedIn implementation of [platforms.Connector]. It is
// safe for concurrent use; its fields are set once by [New].
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
	// now is the clock of throttling retry times (the next midnight UTC).
	now func() time.Time
}

var _ platforms.Connector = (*Connector)(nil)

// New returns a LinkedIn connector for cfg. Empty fields take the defaults
// documented on platforms.Config and the Default constants above: BaseURL
// DefaultBaseURL, AuthBaseURL DefaultAuthBaseURL (the root of both the
// authorization page and the token endpoint), HTTPClient a client with a
// DefaultHTTPTimeout timeout, MaxPostPages DefaultMaxPostPages.
//
// ClientID and ClientSecret are needed by Exchange and Refresh only, so New
// accepts empty ones (a parse-only connector); they are sent in the token
// request's form, as LinkedIn expects.
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
		return nil, fmt.Errorf("linkedin: new connector: %w", err)
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

// Platform returns topics.LinkedIn.
func (c *Connector) Platform() topics.Platform { return topics.LinkedIn }

// UsesPKCE reports false: LinkedIn supports PKCE for native apps only; a
// web app's authorization code flow is protected by the state parameter
// and the client secret.
func (c *Connector) UsesPKCE() bool { return false }

// OAuth2 returns a new copy of the OAuth 2.0 configuration: the
// authorization page and the token endpoint (both under AuthBaseURL), the
// app's credentials (sent in the token request's form), the redirect URL
// and the scopes. Callers may modify the copy.
func (c *Connector) OAuth2() *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.clientID,
		ClientSecret: c.clientSecret,
		RedirectURL:  c.redirectURL,
		Scopes:       strings.Fields(Scope),
		Endpoint: oauth2.Endpoint{
			AuthURL:   c.authBaseURL + authorizePath,
			TokenURL:  c.authBaseURL + tokenPath,
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// errNoClient is returned by Exchange and Refresh on a parse-only
// connector.
var errNoClient = errors.New("no client id or secret configured")

func (c *Connector) newError(op string, class platforms.Class, status int, err error) *platforms.Error {
	return &platforms.Error{Platform: topics.LinkedIn, Op: op, Class: class, Status: status, Limit: platforms.Unknown(), Err: err}
}
