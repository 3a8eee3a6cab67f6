// Package meta is the Graph API client shared by Pulse's Meta connectors
// (platforms/facebook and platforms/instagram): Facebook Login (the
// authorize URL, the code exchange and the long-lived token upgrade),
// authenticated GETs with retries, Meta's error classification and its
// rate-limit headers, and list paging.
//
// It pins Graph API [Version]. Meta has no refresh tokens: a long-lived
// user token (about 60 days) is renewed by exchanging it again while it is
// still valid (grant_type=fb_exchange_token); once expired, the user must
// log in again. Meta's Facebook Login does not use PKCE for this
// server-side flow: the authorize request's state parameter protects it.
package meta

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/pulsehq/pulse/platforms"
	"github.com/pulsehq/pulse/platforms/internal/httpx"
	"github.com/pulsehq/pulse/topics"
)

// Defaults and fixed values.
const (
	// Version is the pinned Graph API version: every path starts with it.
	Version = "v24.0"
	// DefaultBaseURL is the Graph API root; the token endpoint is
	// DefaultBaseURL + "/v24.0/oauth/access_token".
	DefaultBaseURL = "https://graph.facebook.com"
	// DefaultAuthBaseURL is the root of Facebook Login's dialog; the
	// authorize endpoint is DefaultAuthBaseURL + "/v24.0/dialog/oauth".
	DefaultAuthBaseURL = "https://www.facebook.com"
	// DefaultMaxPostPages is the number of list pages read per fetch when
	// platforms.Config.MaxPostPages is zero.
	DefaultMaxPostPages = 5
	// DefaultHTTPTimeout is the timeout of the HTTP client used when
	// platforms.Config.HTTPClient is nil.
	DefaultHTTPTimeout = 30 * time.Second
	// PageSize is the limit of each list request (Graph API's default).
	PageSize = 25
	// ThrottleFallback is the retry delay of a throttled call when Meta
	// gives no estimate: its rate-limit windows are one hour.
	ThrottleFallback = time.Hour

	// DefaultBackoff is the base delay between attempts of a transient
	// failure; attempt n waits about DefaultBackoff*2^(n-1), with jitter.
	DefaultBackoff = 200 * time.Millisecond
	// MaxAttempts is the number of attempts of a request that keeps
	// failing with a Transient error.
	MaxAttempts = 3

	// maxBodyBytes bounds a response body; Graph pages are tens of
	// kilobytes.
	maxBodyBytes = 16 << 20
)

// Client speaks the Graph API for one connector. Its fields are set by
// [New] and not modified afterwards, except by tests of the connectors
// (Backoff, Now) before first use; it is then safe for concurrent use.
type Client struct {
	// Platform names the connector's platform in errors.
	Platform topics.Platform
	// BaseURL and AuthBaseURL are absolute roots without a trailing slash.
	BaseURL     string
	AuthBaseURL string
	// ClientID and ClientSecret are the Meta app's id and secret.
	ClientID     string
	ClientSecret string
	// RedirectURL is the app's OAuth callback.
	RedirectURL string
	// Scopes are the permissions asked for.
	Scopes []string
	// HTTP performs every request.
	HTTP *http.Client
	// MaxPages caps the list pages read per fetch.
	MaxPages int
	// Backoff is the base delay between attempts of a transient failure.
	Backoff time.Duration
	// Now is the clock of token expiries and throttling estimates.
	Now func() time.Time
}

// New returns a Client for platform p configured by cfg. Empty fields take
// the defaults: BaseURL defBase, AuthBaseURL defAuth, HTTPClient a client
// with a DefaultHTTPTimeout timeout, MaxPostPages DefaultMaxPostPages.
// ClientID and ClientSecret are needed by the token calls only, so New
// accepts empty ones (a parse-only connector). New fails when a URL is
// not absolute http(s) or MaxPostPages is negative.
func New(p topics.Platform, cfg platforms.Config, scopes []string, defBase, defAuth string) (*Client, error) {
	s, err := httpx.Configure(cfg, httpx.Defaults{
		BaseURL:     defBase,
		AuthBaseURL: defAuth,
		MaxPages:    DefaultMaxPostPages,
		HTTPTimeout: DefaultHTTPTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: new connector: %w", p, err)
	}
	return &Client{
		Platform:     p,
		BaseURL:      s.BaseURL,
		AuthBaseURL:  s.AuthBaseURL,
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		RedirectURL:  cfg.RedirectURL,
		Scopes:       scopes,
		HTTP:         s.HTTP,
		MaxPages:     s.MaxPages,
		Backoff:      DefaultBackoff,
		Now:          time.Now,
	}, nil
}

// Host returns the host of the client's BaseURL, lower-cased, without a
// port.
func (c *Client) Host() string {
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// OAuth2 returns a new copy of the Facebook Login configuration: the
// dialog (AuthBaseURL + "/v24.0/dialog/oauth") and token
// (BaseURL + "/v24.0/oauth/access_token") endpoints, the app's
// credentials (sent in the request body, as Meta expects), the redirect
// URL and the scopes. Callers may modify the copy.
func (c *Client) OAuth2() *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		RedirectURL:  c.RedirectURL,
		Scopes:       append([]string(nil), c.Scopes...),
		Endpoint: oauth2.Endpoint{
			AuthURL:   c.AuthBaseURL + "/" + Version + "/dialog/oauth",
			TokenURL:  c.TokenURL(),
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// TokenURL is the Graph API's token endpoint.
func (c *Client) TokenURL() string { return c.BaseURL + "/" + Version + "/oauth/access_token" }

// NewError returns a classified error of the client's platform, with an
// unknown rate limit.
func (c *Client) NewError(op string, class platforms.Class, status int, err error) *platforms.Error {
	return &platforms.Error{Platform: c.Platform, Op: op, Class: class, Status: status, Limit: platforms.Unknown(), Err: err}
}

// errNoClient is returned by the token calls of a parse-only connector.
var errNoClient = errors.New("no client id or secret configured")
